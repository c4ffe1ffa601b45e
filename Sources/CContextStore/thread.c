/*
 * Thread contexts: one plain slot per (store, thread), made on first use and
 * released by a pthread key destructor when the thread exits. This is what
 * code outside any task and outside any scope reads and writes, like
 * Python's threading.local.
 *
 * Spares: one object per (store, thread) that the owner parks between
 * scopes (the Swift layer parks an emptied scope object with its slot), so
 * that opening a scope costs no allocation. Cells are listed in the store
 * so that statistics can leave spare slots out of the live count.
 */
#include "internal.h"

#include <stdlib.h>

void *_Atomic ctxs_swift_binding_key = NULL;

__thread unsigned ctxs_thread_releasing __attribute__((tls_model("initial-exec"))) = 0;

int ctxs_thread_in_release(void) { return ctxs_thread_releasing != 0; }

void ctxs_thread_slot_destructor(void *slot) { ctxs_slot_release(slot); }

ctxs_slot *ctxs_thread_slot(ctxs_store *store) {
    if (ctxs_thread_releasing != 0) return NULL; /* hidden: see internal.h */
    ctxs_slot *slot = pthread_getspecific(store->thread_key);
    if (slot != NULL) return slot;
    slot = ctxs_slot_create(store, NULL, NULL);
    if (slot == NULL) return NULL;
    if (pthread_setspecific(store->thread_key, slot) != 0) {
        ctxs_slot_release(slot);
        return NULL;
    }
    return slot;
}

ctxs_slot *ctxs_thread_slot_peek(ctxs_store *store) {
    if (ctxs_thread_releasing != 0) return NULL;
    return pthread_getspecific(store->thread_key);
}

void ctxs_thread_slot_drop(ctxs_store *store) {
    ctxs_slot *slot = pthread_getspecific(store->thread_key);
    if (slot == NULL) return;
    (void)pthread_setspecific(store->thread_key, NULL);
    ctxs_slot_release(slot);
}

/* The cell of the store this thread used last, so that a take or a put
 * is a TLS load and a compare. initial-exec: one word of static TLS (as
 * jemalloc does) instead of a __tls_get_addr call per access. */
static __thread ctxs_spare_cell *last_cell __attribute__((tls_model("initial-exec")));
/* The store's serial, not its address: a destroyed store's cells are freed,
 * and a new store may reuse the address. */
static __thread uint64_t last_serial __attribute__((tls_model("initial-exec")));

static inline void remember(ctxs_store *store, ctxs_spare_cell *cell) {
    last_cell = cell;
    last_serial = store->serial;
}

static inline ctxs_spare_cell *spare_cell(ctxs_store *store) {
    if (CTXS_LIKELY(last_serial == store->serial)) return last_cell;
    ctxs_spare_cell *cell = pthread_getspecific(store->spare_key);
    if (cell != NULL) remember(store, cell);
    return cell;
}

static void spare_unlink(ctxs_spare_cell *cell) {
    *cell->link = cell->next;
    if (cell->next != NULL) cell->next->link = cell->link;
}

void ctxs_thread_spare_destructor(void *raw) {
    ctxs_spare_cell *cell = raw;
    ctxs_store *store = cell->store;
    if (last_cell == cell) {
        last_cell = NULL;
        last_serial = 0;
    }
    pthread_mutex_lock(&store->spares_lock);
    spare_unlink(cell);
    pthread_mutex_unlock(&store->spares_lock);
    void *object = atomic_load_explicit(&cell->object, memory_order_relaxed);
    free(cell);
    ctxs_value_release(store, object);
}

void *ctxs_thread_spare_take(ctxs_store *store) {
    ctxs_spare_cell *cell = spare_cell(store);
    if (cell == NULL) return NULL;
    void *object = atomic_load_explicit(&cell->object, memory_order_relaxed);
    if (object != NULL) atomic_store_explicit(&cell->object, NULL, memory_order_relaxed);
    return object;
}

int ctxs_thread_spare_put(ctxs_store *store, void *object) {
    if (object == NULL || store->release == NULL) return 0; /* nothing could free it later */
    ctxs_spare_cell *cell = spare_cell(store);
    if (cell == NULL) {
        cell = malloc(sizeof *cell);
        if (cell == NULL) return 0;
        cell->store = store;
        atomic_init(&cell->object, NULL);
        if (pthread_setspecific(store->spare_key, cell) != 0) {
            free(cell);
            return 0;
        }
        pthread_mutex_lock(&store->spares_lock);
        cell->next = store->spares;
        cell->link = &store->spares;
        if (cell->next != NULL) cell->next->link = &cell->next;
        store->spares = cell;
        pthread_mutex_unlock(&store->spares_lock);
        remember(store, cell);
    }
    if (atomic_load_explicit(&cell->object, memory_order_relaxed) != NULL) return 0;
    atomic_store_explicit(&cell->object, object, memory_order_relaxed);
    return 1;
}

size_t ctxs_thread_spares_count(ctxs_store *store) {
    size_t count = 0;
    pthread_mutex_lock(&store->spares_lock);
    for (ctxs_spare_cell *cell = store->spares; cell != NULL; cell = cell->next) {
        if (atomic_load_explicit(&cell->object, memory_order_relaxed) != NULL) count++;
    }
    pthread_mutex_unlock(&store->spares_lock);
    return count;
}

void ctxs_thread_spares_release(ctxs_store *store) {
    /* One at a time: a release may re-enter the store (and park a spare). */
    for (;;) {
        void *object = NULL;
        pthread_mutex_lock(&store->spares_lock);
        for (ctxs_spare_cell *cell = store->spares; cell != NULL && object == NULL;
             cell = cell->next) {
            object = atomic_exchange_explicit(&cell->object, NULL, memory_order_relaxed);
        }
        pthread_mutex_unlock(&store->spares_lock);
        if (object == NULL) return;
        ctxs_value_release(store, object);
    }
}

void ctxs_thread_spares_free(ctxs_store *store) {
    pthread_mutex_lock(&store->spares_lock);
    ctxs_spare_cell *cells = store->spares;
    store->spares = NULL;
    pthread_mutex_unlock(&store->spares_lock);
    while (cells != NULL) {
        ctxs_spare_cell *next = cells->next;
        free(cells);
        cells = next;
    }
    if (last_serial == store->serial) {
        last_cell = NULL;
        last_serial = 0;
    }
}
