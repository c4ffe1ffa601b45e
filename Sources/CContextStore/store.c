/*
 * The store: options, the allocation entry points with the failure hook,
 * statistics and teardown.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

const char *ctxs_status_string(int status) {
    switch (status) {
    case CTXS_OK: return "ok";
    case CTXS_ENOMEM: return "out of memory";
    case CTXS_EINVAL: return "invalid argument";
    case CTXS_EBUSY: return "store still has live maps or slots";
    default: return "unknown status";
    }
}

/* The failure hook. The counter is advanced with a load and a store rather
 * than an atomic add: the hook is for single-threaded tests, and a locked
 * add on every allocation would cost the hot path ~4.5 ns. Under
 * concurrency the count may miss increments but is never undefined. */
static inline bool should_fail(ctxs_store *store) {
    uint64_t n = atomic_load_explicit(&store->allocations, memory_order_relaxed) + 1;
    atomic_store_explicit(&store->allocations, n, memory_order_relaxed);
    uint64_t fail_at = atomic_load_explicit(&store->fail_at, memory_order_relaxed);
    if (CTXS_LIKELY(fail_at == 0) || fail_at != n) return false;
    return atomic_compare_exchange_strong(&store->fail_at, &fail_at, 0);
}

void *ctxs_alloc(ctxs_store *store, size_t size, ctxs_kind kind) {
    if (CTXS_UNLIKELY(should_fail(store))) return NULL;
    return ctxs_arena_alloc(&store->arena, size, kind);
}

void ctxs_free(ctxs_store *store, void *ptr, size_t size, ctxs_kind kind) {
    ctxs_arena_free(&store->arena, ptr, size, kind);
}

void *ctxs_malloc(ctxs_store *store, size_t size) {
    if (CTXS_UNLIKELY(should_fail(store))) return NULL;
    void *p = malloc(size);
    if (p == NULL) return NULL;
    atomic_fetch_add_explicit(&store->arena.live[CTXS_KIND_OTHER], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&store->arena.bytes, size, memory_order_relaxed);
    return p;
}

void ctxs_mfree(ctxs_store *store, void *ptr, size_t size) {
    if (ptr == NULL) return;
    free(ptr);
    atomic_fetch_sub_explicit(&store->arena.live[CTXS_KIND_OTHER], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&store->arena.bytes, size, memory_order_relaxed);
}

void ctxs_store_fail_allocation(ctxs_store *store, uint64_t n) {
    uint64_t at = n == 0 ? 0 : atomic_load(&store->allocations) + n;
    atomic_store(&store->fail_at, at);
}

uint64_t ctxs_store_allocation_count(ctxs_store *store) { return atomic_load(&store->allocations); }

ctxs_store *ctxs_store_create(const ctxs_store_options *options) {
    ctxs_store_options defaults = {0};
    if (options == NULL) options = &defaults;
    ctxs_store *store = aligned_alloc(64, (sizeof(ctxs_store) + 63) / 64 * 64);
    if (store == NULL) return NULL;
    memset(store, 0, sizeof *store);
    store->retain = options->retain;
    store->release = options->release;
    store->context = options->context;
    static _Atomic uint64_t serials = 0;
    store->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
    if (ctxs_arena_init(&store->arena, options->backend) != CTXS_OK) {
        free(store);
        return NULL;
    }
    if (ctxs_interner_init(&store->interner) != CTXS_OK) {
        ctxs_arena_destroy(&store->arena);
        free(store);
        return NULL;
    }
    if (pthread_key_create(&store->thread_key, ctxs_thread_slot_destructor) != 0) {
        ctxs_interner_destroy(&store->interner);
        ctxs_arena_destroy(&store->arena);
        free(store);
        return NULL;
    }
    if (pthread_key_create(&store->spare_key, ctxs_thread_spare_destructor) != 0) {
        pthread_key_delete(store->thread_key);
        ctxs_interner_destroy(&store->interner);
        ctxs_arena_destroy(&store->arena);
        free(store);
        return NULL;
    }
    pthread_mutex_init(&store->spares_lock, NULL);
    ctxs_map *empty = ctxs_alloc(store, sizeof(ctxs_map), CTXS_KIND_ROOT);
    if (empty == NULL) {
        pthread_mutex_destroy(&store->spares_lock);
        pthread_key_delete(store->spare_key);
        pthread_key_delete(store->thread_key);
        ctxs_interner_destroy(&store->interner);
        ctxs_arena_destroy(&store->arena);
        free(store);
        return NULL;
    }
    atomic_init(&empty->refs, 1);
    empty->immortal = 1;
    empty->store = store;
    empty->root = NULL;
    empty->count = 0;
    store->empty = empty;
    return store;
}

ctxs_backend ctxs_store_backend(const ctxs_store *store) { return store->arena.backend; }

static void gather(ctxs_store *store, size_t live[CTXS_KIND_COUNT], size_t *in_use,
                   size_t *reserved) {
    memset(live, 0, sizeof(size_t) * CTXS_KIND_COUNT);
    ctxs_arena_statistics(&store->arena, live, in_use, reserved);
}

void ctxs_store_statistics(ctxs_store *store, ctxs_statistics *out) {
    size_t live[CTXS_KIND_COUNT];
    size_t in_use = 0, reserved = 0;
    gather(store, live, &in_use, &reserved);
    out->live_roots = live[CTXS_KIND_ROOT] - 1; /* the empty map is the store's */
    out->live_nodes = live[CTXS_KIND_NODE];
    out->live_values = live[CTXS_KIND_LEAF];
    /* Spare slots are a cache, not scopes: leave them out of the live
     * figures (clamped, should a C caller park objects of its own). */
    size_t spares = ctxs_thread_spares_count(store);
    size_t spare_bytes = spares * ctxs_arena_accounted_size(&store->arena, sizeof(ctxs_slot));
    out->live_slots = live[CTXS_KIND_SLOT] > spares ? live[CTXS_KIND_SLOT] - spares : 0;
    out->spare_slots = spares;
    in_use = in_use > spare_bytes ? in_use - spare_bytes : 0;
    out->interned_keys = atomic_load_explicit(&store->interner.count, memory_order_acquire);
    out->bytes_in_use = in_use;
    out->bytes_reserved = reserved;
}

int ctxs_store_destroy(ctxs_store *store) {
    if (store == NULL) return CTXS_OK;
    /* Spares are the owner's parked objects, not live scopes: release them
     * first (this may call options.release). Their cells stay until the
     * spare key is gone, so that after an EBUSY the store still works. */
    ctxs_thread_spares_release(store);
    size_t live[CTXS_KIND_COUNT];
    size_t in_use = 0, reserved = 0;
    gather(store, live, &in_use, &reserved);
    if (live[CTXS_KIND_ROOT] != 1 || live[CTXS_KIND_NODE] != 0 || live[CTXS_KIND_LEAF] != 0 ||
        live[CTXS_KIND_TOMB] != 0 || live[CTXS_KIND_SLOT] != 0) {
        return CTXS_EBUSY;
    }
    ctxs_free(store, store->empty, sizeof(ctxs_map), CTXS_KIND_ROOT);
    pthread_key_delete(store->thread_key);
    pthread_key_delete(store->spare_key); /* no thread's destructor can reach a cell now */
    ctxs_thread_spares_free(store);
    pthread_mutex_destroy(&store->spares_lock);
    ctxs_interner_destroy(&store->interner);
    ctxs_arena_destroy(&store->arena);
    free(store);
    return CTXS_OK;
}
