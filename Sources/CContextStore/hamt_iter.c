/*
 * Iteration of the trie (see hamt.c for the layout).
 *
 * Invariants: an iterator holds the path from the root to the node it is
 * in (nodes[0 .. depth]) and, per level, the next slot to visit; the map
 * it borrows is immutable, so the path stays valid while the caller keeps
 * a reference to the map. A path has at most CTXS_TRIE_LEVELS nodes (I2:
 * two keys part by the last level), which is what the arrays hold.
 */
#include "hamt.h"

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
        if (at >= ctxs_node_slots(node)) {
            iter->depth--;
            continue;
        }
        iter->positions[iter->depth] = (uint8_t)(at + 1);
        if (at < ctxs_node_leaves(node)) return node->slots[at];
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
