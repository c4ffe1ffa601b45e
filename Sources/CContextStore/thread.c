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
 *
 * Invariants:
 *  - A thread's cell, once made, stays until the thread exits or the store
 *    is destroyed. Only its thread parks and takes its `object`; the one
 *    other writer is ctxs_threads_release_spares (store teardown), which
 *    empties it with an atomic exchange.
 *  - last_cell is this thread's cell of the store whose serial is
 *    last_serial, or NULL; serials are never reused, so a destroyed store's
 *    freed cell is never found through it.
 *  - While a release callback runs on a thread (ctxs_heap_releasing), the
 *    thread's own slot is hidden: see ctxs_thread_slot.
 */
#include "thread.h"

#include "CContextStoreSPI.h"

#include <stdbool.h>
#include <stdlib.h>

/* The threads part of `store`, its first member (see thread.h). */
static inline ctxs_threads *threads_of(ctxs_store *store) { return (ctxs_threads *)(void *)store; }

int ctxs_thread_in_release(void) { return ctxs_heap_releasing != 0; }

static void slot_destructor(void *slot) { ctxs_slot_release(slot); }

/* The cell of the store this thread used last, so that a take or a put
 * is a TLS load and a compare. initial-exec: one word of static TLS (as
 * jemalloc does) instead of a __tls_get_addr call per access. */
static __thread ctxs_spare_cell *last_cell __attribute__((tls_model("initial-exec")));
/* The store's serial, not its address: a destroyed store's cells are freed,
 * and a new store may reuse the address. */
static __thread uint64_t last_serial __attribute__((tls_model("initial-exec")));

static void spare_unlink(ctxs_spare_cell *cell) {
    *cell->link = cell->next;
    if (cell->next != NULL) cell->next->link = cell->link;
}

static void spare_destructor(void *raw) {
    ctxs_spare_cell *cell = raw;
    ctxs_threads *threads = cell->threads;
    if (last_cell == cell) {
        last_cell = NULL;
        last_serial = 0;
    }
    pthread_mutex_lock(&threads->spares_lock);
    spare_unlink(cell);
    pthread_mutex_unlock(&threads->spares_lock);
    void *object = atomic_load_explicit(&cell->object, memory_order_relaxed);
    free(cell);
    ctxs_value_release(threads->heap, object);
}

int ctxs_threads_init(ctxs_threads *threads, ctxs_heap *heap) {
    static _Atomic uint64_t serials = 0;
    threads->heap = heap;
    threads->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
    threads->spares = NULL;
    bool slot_key = false, spare_key = false;
    if (pthread_key_create(&threads->slot_key, slot_destructor) != 0) goto fail;
    slot_key = true;
    if (pthread_key_create(&threads->spare_key, spare_destructor) != 0) goto fail;
    spare_key = true;
    if (pthread_mutex_init(&threads->spares_lock, NULL) != 0) goto fail;
    return CTXS_OK;

fail:
    if (spare_key) pthread_key_delete(threads->spare_key);
    if (slot_key) pthread_key_delete(threads->slot_key);
    return CTXS_ENOMEM;
}

ctxs_slot *ctxs_thread_slot(ctxs_store *store) {
    ctxs_threads *threads = threads_of(store);
    if (ctxs_heap_releasing != 0) return NULL; /* hidden: see alloc.h */
    ctxs_slot *slot = pthread_getspecific(threads->slot_key);
    if (slot != NULL) return slot;
    slot = ctxs_slot_create_in(threads->heap, NULL, NULL);
    if (slot == NULL) return NULL;
    if (pthread_setspecific(threads->slot_key, slot) != 0) {
        ctxs_slot_release(slot);
        return NULL;
    }
    return slot;
}

ctxs_slot *ctxs_thread_slot_peek(ctxs_store *store) {
    ctxs_threads *threads = threads_of(store);
    if (ctxs_heap_releasing != 0) return NULL;
    return pthread_getspecific(threads->slot_key);
}

void ctxs_thread_slot_drop(ctxs_store *store) {
    ctxs_threads *threads = threads_of(store);
    ctxs_slot *slot = pthread_getspecific(threads->slot_key);
    if (slot == NULL) return;
    (void)pthread_setspecific(threads->slot_key, NULL);
    ctxs_slot_release(slot);
}

static inline void remember(ctxs_threads *threads, ctxs_spare_cell *cell) {
    last_cell = cell;
    last_serial = threads->serial;
}

/* This thread's cell in `threads`, or NULL. A NULL is remembered too: a
 * thread that never parks a spare (one that only starts
 * `Task(inheriting: .copy)` children, whose scopes end on other threads)
 * asked pthread_getspecific on every scope it opened (perf, the
 * Task(inheriting: .copy) loop of Benchmarks' Profile: 0.3% of samples).
 * spare_cell_make remembers the cell it makes, so the NULL never hides one. */
static inline ctxs_spare_cell *spare_cell(ctxs_threads *threads) {
    if (CTXS_LIKELY(last_serial == threads->serial)) return last_cell;
    ctxs_spare_cell *cell = pthread_getspecific(threads->spare_key);
    remember(threads, cell);
    return cell;
}

void *ctxs_thread_spare_take(ctxs_store *store) {
    ctxs_threads *threads = threads_of(store);
    ctxs_spare_cell *cell = spare_cell(threads);
    if (cell == NULL) return NULL;
    void *object = atomic_load_explicit(&cell->object, memory_order_relaxed);
    if (object != NULL) atomic_store_explicit(&cell->object, NULL, memory_order_relaxed);
    return object;
}

/* A new cell for this thread, listed in the store; NULL when an
 * allocation fails. */
static ctxs_spare_cell *spare_cell_make(ctxs_threads *threads) {
    ctxs_spare_cell *cell = malloc(sizeof *cell);
    if (cell == NULL) return NULL;
    cell->threads = threads;
    cell->slot = NULL;
    atomic_init(&cell->object, NULL);
    if (pthread_setspecific(threads->spare_key, cell) != 0) {
        free(cell);
        return NULL;
    }
    pthread_mutex_lock(&threads->spares_lock);
    cell->next = threads->spares;
    cell->link = &threads->spares;
    if (cell->next != NULL) cell->next->link = &cell->next;
    threads->spares = cell;
    pthread_mutex_unlock(&threads->spares_lock);
    remember(threads, cell);
    return cell;
}

/* Parks `object` (owning `slot`, or NULL: unknown) in this thread's cell. */
CTXS_INLINE int spare_park(ctxs_threads *threads, void *object, ctxs_slot *slot) {
    /* Without options.release nothing could free a parked object later. */
    if (object == NULL || threads->heap->release == NULL) return 0;
    ctxs_spare_cell *cell = spare_cell(threads);
    if (CTXS_UNLIKELY(cell == NULL)) cell = spare_cell_make(threads);
    if (cell == NULL || atomic_load_explicit(&cell->object, memory_order_relaxed) != NULL) return 0;
    cell->slot = slot;
    atomic_store_explicit(&cell->object, object, memory_order_relaxed);
    return 1;
}

int ctxs_thread_spare_put(ctxs_store *store, void *object) {
    return spare_park(threads_of(store), object, NULL);
}

int ctxs_thread_spare_recycle(ctxs_store *store, ctxs_slot *slot, void *object) {
    if (ctxs_slot_recycle(slot) != 1) {
        ctxs_slot_own_base(slot);
        return 0;
    }
    return spare_park(threads_of(store), object, slot);
}

void *ctxs_thread_spare_take_borrowing(ctxs_store *store, ctxs_slot *lender) {
    ctxs_spare_cell *cell = spare_cell(threads_of(store));
    if (cell == NULL || cell->slot == NULL) return NULL;
    void *object = atomic_load_explicit(&cell->object, memory_order_relaxed);
    ctxs_map *base;
    if (object == NULL || ctxs_slot_borrow_base_inline(lender, &base) != 1 ||
        ctxs_slot_reset_inline(cell->slot, base, true) != CTXS_OK) {
        return NULL;
    }
    atomic_store_explicit(&cell->object, NULL, memory_order_relaxed);
    return object;
}

size_t ctxs_threads_spare_count(ctxs_threads *threads) {
    size_t count = 0;
    pthread_mutex_lock(&threads->spares_lock);
    for (ctxs_spare_cell *cell = threads->spares; cell != NULL; cell = cell->next) {
        if (atomic_load_explicit(&cell->object, memory_order_relaxed) != NULL) count++;
    }
    pthread_mutex_unlock(&threads->spares_lock);
    return count;
}

void ctxs_threads_release_spares(ctxs_threads *threads) {
    /* One at a time: a release may re-enter the store (and park a spare). */
    for (;;) {
        void *object = NULL;
        pthread_mutex_lock(&threads->spares_lock);
        for (ctxs_spare_cell *cell = threads->spares; cell != NULL && object == NULL;
             cell = cell->next) {
            object = atomic_exchange_explicit(&cell->object, NULL, memory_order_relaxed);
        }
        pthread_mutex_unlock(&threads->spares_lock);
        if (object == NULL) return;
        ctxs_value_release(threads->heap, object);
    }
}

void ctxs_threads_destroy(ctxs_threads *threads) {
    pthread_key_delete(threads->slot_key);
    pthread_key_delete(threads->spare_key); /* no thread's destructor can reach a cell now */
    pthread_mutex_lock(&threads->spares_lock);
    ctxs_spare_cell *cells = threads->spares;
    threads->spares = NULL;
    pthread_mutex_unlock(&threads->spares_lock);
    while (cells != NULL) {
        ctxs_spare_cell *next = cells->next;
        free(cells);
        cells = next;
    }
    if (last_serial == threads->serial) {
        last_cell = NULL;
        last_serial = 0;
    }
    pthread_mutex_destroy(&threads->spares_lock);
}
