/*
 * The trie's invariant checker and shape introspection, compiled in only
 * with CTXS_CHECK_INVARIANTS (the package's debug builds, the C harness and
 * the fuzzer define it). Nothing here changes a map; it only reads, so a
 * build with it behaves as one without, except that every write of a map
 * of up to 1,024 entries is checked (ctxs_map_checked).
 *
 * Invariants of this file: every function is a pure read of immutable
 * objects, recursion is bounded by CTXS_TRIE_LEVELS, and a check that
 * fails reports 0 rather than stopping, except ctxs_map_checked, whose
 * whole purpose is to stop at the first broken write.
 */
#ifdef CTXS_CHECK_INVARIANTS
#include "hamt.h"

#include "CContextStoreSPI.h" /* declares the checker and introspection */

#include <stdio.h>
#include <stdlib.h>

static size_t count_nodes(const ctxs_node *node) {
    if (node == NULL) return 0;
    size_t total = 1;
    for (unsigned i = ctxs_node_leaves(node); i < ctxs_node_slots(node); i++)
        total += count_nodes(node->slots[i]);
    return total;
}

size_t ctxs_map_node_count(const ctxs_map *map) { return count_nodes(map->root); }

static int deepest(const ctxs_node *node, int level) {
    int best = ctxs_node_leaves(node) > 0 ? level : -1;
    for (unsigned i = ctxs_node_leaves(node); i < ctxs_node_slots(node); i++) {
        int d = deepest(node->slots[i], level + 1);
        if (d > best) best = d;
    }
    return best;
}

int ctxs_map_depth(const ctxs_map *map) { return map->root == NULL ? -1 : deepest(map->root, 0); }

static int same_shape(const ctxs_node *a, const ctxs_node *b) {
    if (a == b) return 1;
    if (a == NULL || b == NULL) return 0;
    if (a->datamap != b->datamap || a->nodemap != b->nodemap) return 0;
    unsigned leaves = ctxs_node_leaves(a), slots = ctxs_node_slots(a);
    for (unsigned i = 0; i < leaves; i++) {
        const ctxs_leaf *x = a->slots[i], *y = b->slots[i];
        if (x->key != y->key || x->value != y->value) return 0;
    }
    for (unsigned i = leaves; i < slots; i++) {
        if (!same_shape(a->slots[i], b->slots[i])) return 0;
    }
    return 1;
}

int ctxs_map_same_shape(const ctxs_map *a, const ctxs_map *b) {
    return a->count == b->count && same_shape(a->root, b->root);
}

/* The low `bits` bits of a key. */
static inline uint64_t low_bits(unsigned bits) {
    return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/* Checks invariants I1-I5 of hamt.c below `node` at `level`, whose keys
 * must agree with `prefix` on their low CTXS_TRIE_BITS * level bits. Adds
 * its leaves to *leaves. */
static int check_node(const ctxs_node *node, unsigned level, uint64_t prefix, size_t *leaves) {
    if (level >= CTXS_TRIE_LEVELS) return 0;
    if (atomic_load_explicit(&node->refs, memory_order_relaxed) == 0) return 0;
    if (node->datamap & node->nodemap) return 0;
    unsigned shift = CTXS_TRIE_BITS * level;
    /* The last level has only the key's remaining bits (4): fewer fragments. */
    unsigned fragment_bits = 64 - shift < CTXS_TRIE_BITS ? 64 - shift : CTXS_TRIE_BITS;
    uint32_t fragments = (uint32_t)low_bits(1u << fragment_bits);
    if (((node->datamap | node->nodemap) & ~fragments) != 0) return 0;
    unsigned nl = ctxs_node_leaves(node), n = ctxs_node_slots(node);
    if (n == 0) return 0;
    if (n > node->capacity || node->capacity > CTXS_TRIE_FANOUT || (node->capacity & 1u)) return 0;
    if (level > 0 && nl == 1 && n == 1) return 0; /* a lone leaf belongs in the parent */
    uint64_t above = low_bits(shift), through = low_bits(shift + CTXS_TRIE_BITS);
    unsigned li = 0, ci = 0;
    for (unsigned f = 0; f < CTXS_TRIE_FANOUT; f++) {
        uint32_t bit = UINT32_C(1) << f;
        uint64_t want = prefix | ((uint64_t)f << shift);
        if (node->datamap & bit) {
            const ctxs_leaf *leaf = node->slots[li++];
            if (atomic_load_explicit(&leaf->refs, memory_order_relaxed) == 0) return 0;
            if ((leaf->key & through) != want) return 0;
            if ((leaf->key & above) != prefix) return 0;
            (*leaves)++;
        } else if (node->nodemap & bit) {
            const ctxs_node *child = node->slots[nl + ci++];
            if (!check_node(child, level + 1, want, leaves)) return 0;
        }
    }
    return 1;
}

int ctxs_map_check(const ctxs_map *map) {
    if (atomic_load_explicit(&map->refs, memory_order_relaxed) == 0) return 0;
    if (map->root == NULL) return map->count == 0;
    size_t leaves = 0;
    if (!check_node(map->root, 0, 0, &leaves)) return 0;
    return leaves == map->count;
}

/* The check is O(n) and runs under a slot's lock for slot writes, so
 * larger maps (the concurrency tests' thousands of keys) are left to the
 * model checks. */
ctxs_map *ctxs_map_checked(ctxs_map *map, const char *operation) {
    if (map->count <= 1024 && !ctxs_map_check(map)) {
        fprintf(stderr, "CContextStore: %s broke a trie invariant\n", operation);
        abort();
    }
    return map;
}
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ctxs_hamt_debug_unused;
#endif
