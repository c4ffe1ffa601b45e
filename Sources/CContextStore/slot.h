/*
 * slot.h: scope slots (slot.c). Layer 4, above the trie: the one mutable
 * thing in a store, a lock around the current map of one scope.
 */
#ifndef CTXS_SLOT_H
#define CTXS_SLOT_H

#include "CContextStore.h"
#include "CContextStoreSPI.h"
#include "alloc.h"
#include "compiler.h"
#include "hamt.h"
#include "lock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shared by every slot of one chain tree (a plain slot and the chained
 * slots below it). Any write to any of them bumps the generation, which
 * tells a chained slot whether its merged view is still current. */
typedef struct ctxs_lineage {
    _Atomic uint32_t refs;       /* slots holding it */
    _Atomic uint64_t generation; /* bumped (release) after every write in the tree */
} ctxs_lineage;

struct ctxs_slot {
    _Atomic uint32_t refs; /* holders, including chained children */
    ctxs_lock lock;
    bool cleared;              /* guarded by lock: a chained layer hides everything inherited */
    ctxs_map *map;             /* guarded by lock: the contents, or a chained slot's layer */
    _Atomic(ctxs_map *) base;  /* a plain slot's first map, immutable until the slot is recycled
                                  (NULL for a chained slot): while `touched` is false it is `map`
                                  itself, sharing map's reference; after, it holds one of its own */
    _Atomic bool touched;      /* written under lock, false -> true only (recycle resets it): a
                                  write has been made; always true for a chained slot */
    _Atomic bool borrowed;     /* plain: `base` was lent by the caller of ctxs_slot_reset_borrowed
                                  and holds no reference (until ctxs_slot_own_base); written
                                  under lock or by the only holder, read under the lock or by
                                  the last holder (atomic: the last holder may be a thread that
                                  reached the slot through Swift's reference counts, whose
                                  ordering TSan does not see) */
    void *memo;                /* guarded by lock: the owner's object for `map` as it is now
                                  (retained via options.retain); NULL after any write */
    ctxs_slot *parent;         /* immutable; retained; NULL for a plain slot */
    ctxs_lineage *lineage;     /* retained; a plain slot's is set (under lock) when its first
                                  chained child is made; a chained slot's is immutable */
    ctxs_map *view;            /* guarded by lock: a chained slot's merged contents, or NULL */
    uint64_t view_generation;  /* guarded by lock: the lineage generation `view` reflects */
    size_t rebuild_cost;       /* guarded by lock: work the last rebuild of `view` took */
    _Atomic size_t stale_work; /* levels walked by reads since `view` went stale */
    uint32_t pending;          /* guarded by lock: entries written but not yet in `map` (plain
                                  slots without a lineage only); each key once, value retained */
    uint64_t pending_keys[CTXS_SLOT_PENDING];
    void *pending_values[CTXS_SLOT_PENDING];
    ctxs_heap *heap; /* immutable: the store's heap */
    size_t depth;    /* immutable: 0 plain, parent->depth + 1 chained */
};

/* ctxs_slot_borrow_base, inline (the fused spare calls in thread.c use it). */
CTXS_INLINE int ctxs_slot_borrow_base_inline(ctxs_slot *slot, ctxs_map **base) {
    if (slot->parent != NULL || atomic_load_explicit(&slot->touched, memory_order_acquire))
        return 0;
    ctxs_map *first = atomic_load_explicit(&slot->base, memory_order_relaxed);
    if (first == NULL) return 0; /* recycled: it has no map to lend (found by the fuzzer) */
    *base = first;
    return 1;
}

/* ctxs_slot_reset (borrowed false) and ctxs_slot_reset_borrowed (true),
 * inline. Only the caller holds a recycled slot: no lock. */
CTXS_INLINE int ctxs_slot_reset_inline(ctxs_slot *slot, ctxs_map *map, bool borrowed) {
    if (slot->map != NULL || slot->parent != NULL || map->heap != slot->heap) return CTXS_EINVAL;
    slot->map = map;
    atomic_store_explicit(&slot->base, map, memory_order_relaxed);
    if (borrowed) atomic_store_explicit(&slot->borrowed, true, memory_order_relaxed);
    return CTXS_OK;
}

/* ctxs_slot_create and ctxs_slot_adopt (see CContextStore.h) in the store
 * whose heap is `heap`. */
ctxs_slot *ctxs_slot_create_in(ctxs_heap *heap, ctxs_map *initial, ctxs_slot *parent);
ctxs_slot *ctxs_slot_adopt_in(ctxs_heap *heap, ctxs_map *map);
ctxs_slot *ctxs_slot_copy_in(ctxs_heap *heap, ctxs_slot *from, ctxs_slot *recycled);

#endif /* CTXS_SLOT_H */
