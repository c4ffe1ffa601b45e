/*
 * Iteration and shape introspection of the trie (see hamt.c for the layout).
 */
#include "internal.h"

/* Depth-first: at each level, the node's leaves, then its children. */
void ctxs_map_iter_init(ctxs_map_iter *iter, const ctxs_map *map) {
    iter->depth = map->root == NULL ? -1 : 0;
    iter->nodes[0] = map->root;
    iter->positions[0] = 0;
}

const ctxs_leaf *ctxs_map_iter_next_leaf(ctxs_map_iter *iter) {
    while (iter->depth >= 0) {
        const ctxs_node *node = iter->nodes[iter->depth];
        unsigned at = iter->positions[iter->depth];
        if (at >= node_slots(node)) {
            iter->depth--;
            continue;
        }
        iter->positions[iter->depth] = (uint8_t)(at + 1);
        if (at < node_leaves(node)) return node->slots[at];
        iter->depth++;
        iter->nodes[iter->depth] = node->slots[at];
        iter->positions[iter->depth] = 0;
    }
    return NULL;
}

int ctxs_map_iter_next(ctxs_map_iter *iter, uint64_t *key, void **value) {
    const ctxs_leaf *leaf = ctxs_map_iter_next_leaf(iter);
    if (leaf == NULL) return 0;
    if (key != NULL) *key = leaf->key;
    if (value != NULL) *value = leaf->value;
    return 1;
}

static size_t count_nodes(const ctxs_node *node) {
    if (node == NULL) return 0;
    size_t total = 1;
    for (unsigned i = node_leaves(node); i < node_slots(node); i++)
        total += count_nodes(node->slots[i]);
    return total;
}

size_t ctxs_map_node_count(const ctxs_map *map) { return count_nodes(map->root); }

static int deepest(const ctxs_node *node, int level) {
    int best = node_leaves(node) > 0 ? level : -1;
    for (unsigned i = node_leaves(node); i < node_slots(node); i++) {
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
    unsigned leaves = node_leaves(a), slots = node_slots(a);
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

/* Checks invariants I1-I5 of hamt.c below `node` at `level`, whose keys
 * must agree with `prefix` on their low 5 * level bits. Adds its leaves to
 * *leaves. */
static int check_node(const ctxs_node *node, unsigned level, uint64_t prefix, size_t *leaves) {
    if (atomic_load_explicit(&node->refs, memory_order_relaxed) == 0) return 0;
    if (node->datamap & node->nodemap) return 0;
    unsigned shift = 5 * level;
    if (level == 12 && ((node->datamap | node->nodemap) >> 16) != 0) return 0; /* 4 bits left */
    if (level > 12) return 0;
    unsigned nl = node_leaves(node), n = node_slots(node);
    if (n == 0) return 0;
    if (n > node->capacity || node->capacity > CTXS_FANOUT || (node->capacity & 1u)) return 0;
    if (level > 0 && nl == 1 && n == 1) return 0; /* a lone leaf belongs in the parent */
    uint64_t low = shift == 0 ? 0 : (UINT64_MAX >> (64 - shift));
    unsigned li = 0, ci = 0;
    for (unsigned f = 0; f < 32; f++) {
        uint32_t bit = UINT32_C(1) << f;
        uint64_t want = prefix | ((uint64_t)f << shift);
        uint64_t mask = shift + 5 >= 64 ? UINT64_MAX : (UINT64_MAX >> (64 - shift - 5));
        if (node->datamap & bit) {
            const ctxs_leaf *leaf = node->slots[li++];
            if (atomic_load_explicit(&leaf->refs, memory_order_relaxed) == 0) return 0;
            if ((leaf->key & mask) != want) return 0;
            if ((leaf->key & low) != prefix) return 0;
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
