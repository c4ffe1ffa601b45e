/*
 * hamt.h: the trie (hamt.c, hamt_iter.c; the checker in hamt_debug.c).
 * Layer 3, above the allocation front; beside the interner. See hamt.c for
 * the design and the invariants.
 */
#ifndef CTXS_HAMT_H
#define CTXS_HAMT_H

#include "CContextStore.h"
#include "alloc.h"
#include "compiler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------ layouts */

/* A trie node. slots[] holds popcount(datamap) leaves, then
 * popcount(nodemap) children. Immutable once published (I5). */
typedef struct ctxs_node {
    _Atomic uint32_t refs; /* maps and parent nodes holding this node */
    uint32_t datamap;      /* bit i: fragment i is an inline leaf */
    uint32_t nodemap;      /* bit i: fragment i is a child node; disjoint from datamap */
    uint32_t capacity;     /* slots the allocation has room for; >= popcount(both maps) */
    void *slots[];
} ctxs_node;

/* One entry. Shared by every node (in every map) that holds it, so a path
 * copy bumps a counter instead of calling the value's retain callback. */
typedef struct ctxs_leaf {
    _Atomic uint32_t refs; /* nodes holding this leaf */
    uint32_t unused;
    uint64_t key; /* immutable */
    void *value;  /* immutable; NULL only in a chained slot's layer (a removal) */
} ctxs_leaf;

struct ctxs_map {
    _Atomic uint32_t refs; /* holders of this map */
    uint32_t immortal;     /* 1 for the heap's empty map, which only the store frees */
    ctxs_heap *heap;       /* immutable: the store's heap */
    ctxs_node *root;       /* immutable; NULL iff count == 0 */
    size_t count;          /* immutable: leaves in the trie */
};

/* ----------------------------------------------------------- geometry */

/* The bit of key's fragment at the level that starts at bit `shift`. */
static inline uint32_t ctxs_fragment_bit(uint64_t key, unsigned shift) {
    return UINT32_C(1) << ((key >> shift) & (CTXS_TRIE_FANOUT - 1));
}

static inline unsigned ctxs_popcount32(uint32_t x) { return (unsigned)__builtin_popcount(x); }

/* Index of `bit` among the set bits of `map` below it. */
static inline unsigned ctxs_bit_index(uint32_t map, uint32_t bit) {
    return ctxs_popcount32(map & (bit - 1));
}

static inline unsigned ctxs_node_leaves(const ctxs_node *n) { return ctxs_popcount32(n->datamap); }
static inline unsigned ctxs_node_children(const ctxs_node *n) {
    return ctxs_popcount32(n->nodemap);
}
static inline unsigned ctxs_node_slots(const ctxs_node *n) {
    return ctxs_popcount32(n->datamap | n->nodemap);
}

/* The leaf in fragment `bit`, which must be in datamap. */
static inline ctxs_leaf *ctxs_node_leaf_at(const ctxs_node *n, uint32_t bit) {
    return n->slots[ctxs_bit_index(n->datamap, bit)];
}

/* The child in fragment `bit`, which must be in nodemap. */
static inline ctxs_node *ctxs_node_child_at(const ctxs_node *n, uint32_t bit) {
    return n->slots[ctxs_node_leaves(n) + ctxs_bit_index(n->nodemap, bit)];
}

/* The lookup, written once: the leaf for key, tombstones included, or NULL
 * (borrowed from map). Inline so that each CTXS_HOT caller gets it
 * compiled with POPCNT. */
static inline const ctxs_leaf *ctxs_find_leaf_inline(const ctxs_map *map, uint64_t key) {
    const ctxs_node *node = map->root;
    unsigned shift = 0;
    while (node != NULL) {
        uint32_t bit = ctxs_fragment_bit(key, shift);
        if (node->datamap & bit) {
            const ctxs_leaf *leaf = ctxs_node_leaf_at(node, bit);
            return leaf->key == key ? leaf : NULL;
        }
        if (!(node->nodemap & bit)) return NULL;
        node = ctxs_node_child_at(node, bit);
        shift += CTXS_TRIE_BITS;
    }
    return NULL;
}

/* ------------------------------------------------------ the empty map */

/* Makes heap->empty, the one empty map of a store, which maps share and
 * never free. Returns CTXS_OK or CTXS_ENOMEM. */
int ctxs_map_empty_init(ctxs_heap *heap);

/* Frees heap->empty (store teardown: no other map of the heap is live). */
void ctxs_map_empty_free(ctxs_heap *heap);

/* The empty map of `heap`, +1. Never fails. */
static inline ctxs_map *ctxs_map_empty(ctxs_heap *heap) { return ctxs_map_fork(heap->empty); }

/* ---------------------------------------------------- internal writes */

/* Persistent insert of an existing leaf (another map's entry), shared
 * rather than copied: no value callback runs. Used to merge chained layers.
 * Returns as ctxs_map_assoc. */
int ctxs_map_assoc_leaf(ctxs_map *map, const ctxs_leaf *leaf, ctxs_map **out);

/* A leaf key -> value that takes over the caller's reference to `value`
 * (no options.retain), +1, for ctxs_map_assoc_leaf; NULL when out of
 * memory. ctxs_leaf_drop gives up that +1 (the value is released with
 * the leaf's last reference); ctxs_leaf_unmake frees a leaf nothing else
 * holds and hands the value's reference back to the caller. */
ctxs_leaf *ctxs_leaf_adopting(ctxs_heap *heap, uint64_t key, void *value);
void ctxs_leaf_drop(ctxs_heap *heap, ctxs_leaf *leaf);
void ctxs_leaf_unmake(ctxs_heap *heap, ctxs_leaf *leaf);

/* Like ctxs_map_assoc but accepts value == NULL (a tombstone). */
int ctxs_map_assoc_any(ctxs_map *map, uint64_t key, void *value, ctxs_map **out);

/* What an exclusive write unlinked: at most one leaf and one node whose
 * reference the write gave up. Released after the slot's lock is dropped,
 * since a release may call options.release. */
typedef struct ctxs_displaced {
    ctxs_leaf *leaf;
    ctxs_node *node;
} ctxs_displaced;

/* Writes into `map` in place. Only for a map whose one reference is held by
 * the caller under a slot's lock (refs == 1, not the heap's empty map):
 * nobody else can see it, so exclusive nodes on the path are rewritten or
 * moved instead of copied, and no sibling's refcount is touched. Shared
 * nodes below are still copied. Returns CTXS_OK, or CTXS_ENOMEM (nothing
 * changed). assoc accepts value == NULL (a tombstone). */
int ctxs_map_assoc_exclusive(ctxs_map *map, uint64_t key, void *value, ctxs_displaced *displaced);

/* ctxs_map_assoc_exclusive of an existing leaf (shared, no value callback):
 * `map` is one only the caller holds. The map takes a reference to `leaf`
 * (its count; options.retain does not run), and the caller keeps its own.
 * Returns as ctxs_map_assoc_exclusive. */
int ctxs_map_assoc_leaf_exclusive(ctxs_map *map, ctxs_leaf *leaf, ctxs_displaced *displaced);
int ctxs_map_without_exclusive(ctxs_map *map, uint64_t key, ctxs_displaced *displaced);

/* Releases what an exclusive write displaced (options.release may run: no
 * lock may be held) and empties *displaced. */
void ctxs_displaced_release(ctxs_heap *heap, ctxs_displaced *displaced);

/* ---------------------------------------------------------- iteration */

/* The next leaf of an iteration (tombstones included), or NULL. */
const ctxs_leaf *ctxs_map_iter_next_leaf(ctxs_map_iter *iter);

/* ------------------------------------------------------------ checking */

#ifdef CTXS_CHECK_INVARIANTS
/* Aborts with a message naming `operation` if `map` (of up to 1,024
 * entries) breaks an invariant of hamt.c; returns map (hamt_debug.c). */
ctxs_map *ctxs_map_checked(ctxs_map *map, const char *operation);
#define CTXS_CHECKED(map, operation) ctxs_map_checked((map), (operation))
#else
#define CTXS_CHECKED(map, operation) (map)
#endif

#endif /* CTXS_HAMT_H */
