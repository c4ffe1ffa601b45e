/*
 * The store: its lifecycle, its statistics, and the public entry points
 * that take a ctxs_store, each handing its work to the part that does it
 * (the heap, the interner; see store.h). The ctxs_thread_* ones are in
 * thread.c (see thread.h for why).
 *
 * Invariants:
 *  - A store is made whole or not at all: ctxs_store_create undoes every
 *    part it made when a later one fails.
 *  - The heap's empty map is live from creation to destruction; it is the
 *    one ROOT object that ctxs_store_destroy expects to find.
 *  - ctxs_store_destroy frees nothing unless no map, node, leaf or slot of
 *    the store is live (spares are released first: they are the owner's
 *    cache, not live scopes).
 */
#include "store.h"

#include "CContextStoreSPI.h" /* defines the test hooks, the name cache, the Swift globals */

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(ctxs_store, threads) == 0, "thread.c reaches a store's threads by a cast");

void *_Atomic ctxs_swift_binding_key = NULL;
ctxs_store *_Atomic ctxs_swift_store = NULL;
ctxs_key_cache_entry *_Atomic ctxs_swift_key_cache = NULL;
const void *_Atomic ctxs_swift_box_class = NULL;

const char *ctxs_status_string(int status) {
    switch (status) {
    case CTXS_OK: return "ok";
    case CTXS_ENOMEM: return "out of memory";
    case CTXS_EINVAL: return "invalid argument";
    case CTXS_EBUSY: return "store still has live maps or slots";
    default: return "unknown status";
    }
}

/* ------------------------------------------------------------ lifecycle */

ctxs_store *ctxs_store_create(const ctxs_store_options *options) {
    ctxs_store_options defaults = {0};
    if (options == NULL) options = &defaults;
    ctxs_store *store = aligned_alloc(64, (sizeof(ctxs_store) + 63) / 64 * 64);
    if (store == NULL) return NULL;
    memset(store, 0, sizeof *store);
    bool heap = false, interner = false, threads = false;
    if (ctxs_heap_init(&store->heap, options) != CTXS_OK) goto fail;
    heap = true;
    if (ctxs_interner_init(&store->interner, &store->heap) != CTXS_OK) goto fail;
    interner = true;
    if (ctxs_threads_init(&store->threads, &store->heap) != CTXS_OK) goto fail;
    threads = true;
    if (ctxs_map_empty_init(&store->heap) != CTXS_OK) goto fail;
    return store;

fail:
    if (threads) ctxs_threads_destroy(&store->threads);
    if (interner) ctxs_interner_destroy(&store->interner);
    if (heap) ctxs_heap_destroy(&store->heap);
    free(store);
    return NULL;
}

static void gather(ctxs_store *store, size_t live[CTXS_KIND_COUNT], size_t *in_use,
                   size_t *reserved) {
    memset(live, 0, sizeof(size_t) * CTXS_KIND_COUNT);
    ctxs_arena_statistics(&store->heap.arena, live, in_use, reserved);
}

int ctxs_store_destroy(ctxs_store *store) {
    if (store == NULL) return CTXS_OK;
    /* Spares are the owner's parked objects, not live scopes: release them
     * first (this may call options.release). Their cells stay until the
     * spare key is gone, so that after an EBUSY the store still works. */
    ctxs_threads_release_spares(&store->threads);
    size_t live[CTXS_KIND_COUNT];
    size_t in_use = 0, reserved = 0;
    gather(store, live, &in_use, &reserved);
    if (live[CTXS_KIND_ROOT] != 1 || live[CTXS_KIND_NODE] != 0 || live[CTXS_KIND_LEAF] != 0 ||
        live[CTXS_KIND_TOMB] != 0 || live[CTXS_KIND_SLOT] != 0) {
        return CTXS_EBUSY;
    }
    ctxs_map_empty_free(&store->heap);
    ctxs_threads_destroy(&store->threads);
    ctxs_interner_destroy(&store->interner);
    ctxs_heap_destroy(&store->heap);
    free(store);
    return CTXS_OK;
}

ctxs_backend ctxs_store_backend(const ctxs_store *store) { return store->heap.arena.backend; }

void ctxs_store_statistics(ctxs_store *store, ctxs_statistics *out) {
    size_t live[CTXS_KIND_COUNT];
    size_t in_use = 0, reserved = 0;
    gather(store, live, &in_use, &reserved);
    out->live_roots = live[CTXS_KIND_ROOT] - 1; /* the empty map is the store's */
    out->live_nodes = live[CTXS_KIND_NODE];
    int64_t pending = atomic_load_explicit(&store->heap.pending, memory_order_relaxed);
    out->live_values = live[CTXS_KIND_LEAF] + (pending > 0 ? (size_t)pending : 0);
    /* Spare slots are a cache, not scopes: leave them out of the live
     * figures (clamped, should a C caller park objects of its own). */
    size_t spares = ctxs_threads_spare_count(&store->threads);
    size_t spare_bytes = spares * ctxs_arena_accounted_size(&store->heap.arena, sizeof(ctxs_slot));
    out->live_slots = live[CTXS_KIND_SLOT] > spares ? live[CTXS_KIND_SLOT] - spares : 0;
    out->spare_slots = spares;
    in_use = in_use > spare_bytes ? in_use - spare_bytes : 0;
    out->interned_keys = ctxs_interner_count(&store->interner);
    out->bytes_in_use = in_use;
    out->bytes_reserved = reserved;
}

void ctxs_store_fail_allocation(ctxs_store *store, uint64_t n) {
    ctxs_heap_fail_allocation(&store->heap, n);
}

uint64_t ctxs_store_allocation_count(ctxs_store *store) {
    return ctxs_heap_allocation_count(&store->heap);
}

/* ------------------------------------------------- the parts' entry points */

ctxs_map *ctxs_map_new(ctxs_store *store) { return ctxs_map_empty(&store->heap); }

ctxs_store *ctxs_map_store(const ctxs_map *map) {
    return (ctxs_store *)(void *)((char *)map->heap - offsetof(ctxs_store, heap));
}

int ctxs_intern(ctxs_store *store, const void *bytes, size_t length, uint64_t *id) {
    return ctxs_interner_intern(&store->interner, bytes, length, id);
}

int ctxs_intern_find(ctxs_store *store, const void *bytes, size_t length, uint64_t *id) {
    return ctxs_interner_find(&store->interner, bytes, length, id);
}

int ctxs_intern_cache_find(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t *id) {
    return ctxs_interner_cache_find(&store->interner, key0, key1, id);
}

int ctxs_intern_cache_find_checked(ctxs_store *store, uint64_t key0, uint64_t key1,
                                   const void *bytes, size_t length, uint64_t *id) {
    return ctxs_interner_cache_find_checked(&store->interner, key0, key1, bytes, length, id);
}

ctxs_key_cache_entry *ctxs_intern_cache_table(ctxs_store *store) { return store->interner.cache; }

void ctxs_intern_cache_put(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t id) {
    ctxs_interner_cache_put(&store->interner, key0, key1, id);
}

void ctxs_intern_cache_put_checked(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t id) {
    ctxs_interner_cache_put_checked(&store->interner, key0, key1, id);
}

int ctxs_intern_name(ctxs_store *store, uint64_t id, const void **bytes, size_t *length) {
    return ctxs_interner_name(&store->interner, id, bytes, length);
}

ctxs_slot *ctxs_slot_create(ctxs_store *store, ctxs_map *initial, ctxs_slot *parent) {
    return ctxs_slot_create_in(&store->heap, initial, parent);
}

ctxs_slot *ctxs_slot_copy(ctxs_store *store, ctxs_slot *from, ctxs_slot *recycled) {
    return ctxs_slot_copy_in(&store->heap, from, recycled);
}

ctxs_slot *ctxs_slot_adopt(ctxs_store *store, ctxs_map *map) {
    return ctxs_slot_adopt_in(&store->heap, map);
}
