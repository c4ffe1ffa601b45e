/*
 * hamt.c: the persistent map at the heart of ContextStore.
 *
 * The idea
 * --------
 * A context is a small map from interned key ids to values, forked for every
 * child scope and written a few times per request. It is a persistent hash
 * array mapped trie (a HAMT, in the CHAMP layout of Steindorfer and Vinju,
 * OOPSLA 2015): every write copies the path from the root to one key and
 * shares everything else, so a fork is one refcount increment and a write
 * costs O(depth) node copies, depth <= 13.
 *
 * Hashing
 * -------
 * Key ids are not hashed here: distinct keys have distinct 64-bit "hashes",
 * and the trie needs no collision nodes. ctxs_intern makes a name's id from
 * its counter (1, 2, 3, ... in the order names are first interned): the
 * counter's low 5 bits, the root fragment, as they are, and the bits above
 * spread by a bijection (intern.c). So any 32 names interned one after
 * another (a request's names, first used together; a program's keys, as it
 * starts) take the 32 root fragments, one each, and a small map of them is
 * one node, which every read walks in one level. (Keys whose counters are
 * equal modulo 32 share a fragment, which costs at most the one level a
 * random hash's collision would.) Below the root, the spread bits keep a
 * large map as balanced as random hashes would.
 *   Ids that mixed all 64 bits put at least two of a map's 8 keys under one
 * root fragment in 61% of maps (1 - 32!/(24! 32^8)). Those took a second
 * level, and reads that met both depths in turn cost as a mispredicted
 * branch would: reads by name of 8 names took 1.19-1.26x a typed read with
 * two or four keys a level down, against 1.11-1.16x with all in the root
 * (temporary Ratios rows; the name-short row went from 1.33-1.39x to
 * 1.16-1.20x with the root fragment plain: see Performance.md). Plain
 * counters throughout fixed that too, but moved other rows the wrong way (a
 * typed read at n = 64: 1.21x -> 1.41-1.74x; at n = 65,536: 1.29x ->
 * 1.46-1.68x), for reasons not pinned down.
 * A C caller choosing its own ids gets a correct map in any case: two
 * distinct keys always differ in some bit, so they part by level 12 at
 * worst. Level L uses bits [5L, 5L + 5) of the key; level 12 uses bits
 * 60..63 (the geometry is CTXS_TRIE_BITS, _FANOUT and _LEVELS, in
 * CContextStore.h).
 *
 * Layout
 * ------
 *     ctxs_map (the root object: refs, heap, count)
 *        |
 *        v
 *     ctxs_node  datamap=0b...1001  nodemap=0b...0100
 *        slots: [ leaf(frag 0) | leaf(frag 3) | child(frag 2) ]
 *                 \______ leaves ______/        \_ children _/
 *                                                 |
 *                                                 v
 *                                              ctxs_node ...
 *
 * A node's slots hold popcount(datamap) leaves, then popcount(nodemap)
 * children, each group in fragment order. Bit i of datamap says fragment i
 * is an inline entry; bit i of nodemap says it is a subtree; never both.
 *
 * Entries are leaves: a small refcounted {key, value} shared by every node
 * that holds it. Copying a node therefore increments leaf counters and
 * never calls the owner's retain callback; the value is retained once when
 * its leaf is made and released once when the leaf dies, that is when the
 * last map holding the entry is freed.
 *
 * Invariants (checked by ctxs_map_check, hamt_debug.c)
 * --------------------------------------
 *  I1. datamap & nodemap == 0; a node holds popcount(both) slots and has
 *      room for capacity >= that many (an even number, at most 32; the
 *      allocation is 16 + 8 * capacity bytes; a node is made with
 *      capacity_for its slots, except that the root a write to the empty
 *      map makes has room for four). Only an exclusive write (see
 *      "Exclusive writes" below) uses the spare room.
 *  I2. A leaf at level L in fragment f, below the path p, has key bits
 *      [0, 5L) == p and bits [5L, 5L + 5) == f.
 *  I3. Canonical form: a non-root node holds at least two leaves or at least
 *      one child (a lone leaf is always inlined into its parent). The root of
 *      an empty map is NULL. Hence equal contents give equal trees, and an
 *      emptied map holds no node at all.
 *  I4. map->count is the number of leaves reachable from map->root.
 *  I5. Nodes, leaves and maps are immutable once published; only their
 *      refcounts change (C11 atomics, so any thread may release). The one
 *      exception is an exclusive write, below, on objects nobody else can
 *      see.
 *
 * Operations and their transitions
 * --------------------------------
 *  find     walk the fragments; at most one key comparison.
 *  assoc    plan the path, allocate every object it needs, then build:
 *           - replace-leaf       same key, new value: copy with one slot swapped
 *           - insert-leaf        empty fragment: copy with one more leaf
 *           - migrate-leaf-to-node  fragment holds another key: the two
 *             leaves move into a new subtree (a chain of one-child nodes
 *             while their fragments agree, ending in a two-leaf node)
 *           - replace-child      every level above: copy with one child swapped
 *  without  plan, allocate, build:
 *           - remove-leaf        copy with one leaf fewer
 *           - collapse           a non-root node left with one lone leaf and
 *             nothing else disappears; the leaf is carried up and inlined by
 *             migrate-node-to-leaf at the first level that holds anything
 *             else (or at the root)
 *  fork     retain the map.
 *
 * Exclusive writes
 * ----------------
 * A slot whose map it alone holds (refs == 1) writes under its lock into
 * that map itself (ctxs_map_assoc_exclusive / _without_exclusive): each
 * level of the path that has one reference, and only such levels above
 * it, is rewritten in place when its capacity fits the new slot count
 * (fits_in_place) or moved to a new node otherwise; a shared level below
 * is copied as usual. Whatever the write unlinks is handed back in a
 * ctxs_displaced and released after the lock is dropped. When the whole
 * path is exclusive and only the bottom node changes (a replaced leaf, a
 * new leaf where there is room, a removal that collapses nothing), the
 * write is one of two named fast paths, put_in_place and unlink_in_place,
 * and skips the plan entirely.
 *
 * Code map
 * --------
 * Both writes share one edit state (struct edit: the map, the key, the
 * path walked, how much of it the write owns, the plan) and one walk
 * (edit_walk), and end in finish_path, which rewrites the levels above the
 * changed one; the two in-place fast paths walk on their own, before any
 * edit state exists. Node transitions are `shape_*` functions that stage a
 * node's next contents; `emit` writes a staged shape by COPY, MOVE or
 * IN_PLACE. A leaf's fields are set only by leaf_fill: leaf_init, which
 * retains the value, and ctxs_leaf_adopting, which takes over a reference
 * (a slot's pending entry moving into its map).
 *
 * Errors
 * ------
 * assoc and without first walk the trie to learn exactly which objects the
 * result needs, allocate all of them, and only then build. An allocation
 * failure therefore frees the fresh objects and returns CTXS_ENOMEM before
 * anything has been retained or published: the old map is untouched.
 */
#include "hamt.h"

#include <string.h>

static inline size_t node_bytes(unsigned capacity) {
    return sizeof(ctxs_node) + capacity * sizeof(void *);
}

/* Nodes are allocated with an even number of slots. 16 + 8 * capacity then
 * fills the backends' 16-byte grain exactly, so the spare slot of an odd
 * node costs no memory, and an exclusive node can take one more entry in
 * place instead of moving: a set followed by a remove of a new key (the
 * common request pattern) then reallocates no node at all. */
static inline unsigned capacity_for(unsigned slots) { return (slots + 1u) & ~1u; }

/* Whether an exclusive node of `capacity` can hold `slots` in place: there
 * is room, and at most one grain (two slots) would sit unused. */
static inline bool fits_in_place(unsigned capacity, unsigned slots) {
    return slots <= capacity && capacity <= capacity_for(slots) + 2u;
}

static inline ctxs_kind leaf_kind(const void *value) {
    return value != NULL ? CTXS_KIND_LEAF : CTXS_KIND_TOMB;
}

/* ----------------------------------------------------------- refcounts */

static inline void leaf_retain(ctxs_leaf *leaf) {
    atomic_fetch_add_explicit(&leaf->refs, 1, memory_order_relaxed);
}

static inline void node_retain(ctxs_node *node) {
    atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
}

/* Makes `memory` (a fresh leaf allocation) the entry key -> value, holding
 * one reference to the value (options.retain; none for a tombstone). */
static inline ctxs_leaf *leaf_fill(void *memory, uint64_t key, void *value) {
    ctxs_leaf *leaf = memory;
    atomic_init(&leaf->refs, 1);
    leaf->unused = 0;
    leaf->key = key;
    leaf->value = value;
    return leaf;
}

static inline ctxs_leaf *leaf_init(ctxs_heap *heap, void *memory, uint64_t key, void *value) {
    ctxs_value_retain(heap, value);
    return leaf_fill(memory, key, value);
}

static void leaf_release(ctxs_heap *heap, ctxs_leaf *leaf) {
    if (atomic_fetch_sub_explicit(&leaf->refs, 1, memory_order_acq_rel) != 1) return;
    void *value = leaf->value;
    ctxs_free(heap, leaf, sizeof *leaf, leaf_kind(value));
    ctxs_value_release(heap, value);
}

/* Frees a node without touching its slots: they moved elsewhere or were
 * released already. */
static inline void node_free_shell(ctxs_heap *heap, ctxs_node *node) {
    ctxs_free(heap, node, node_bytes(node->capacity), CTXS_KIND_NODE);
}

/* Recursion depth is bounded by CTXS_TRIE_LEVELS. */
CTXS_HOT static void node_release(ctxs_heap *heap, ctxs_node *node) {
    if (atomic_fetch_sub_explicit(&node->refs, 1, memory_order_acq_rel) != 1) return;
    unsigned leaves = ctxs_node_leaves(node), slots = ctxs_node_slots(node);
    for (unsigned i = 0; i < leaves; i++) leaf_release(heap, node->slots[i]);
    for (unsigned i = leaves; i < slots; i++) node_release(heap, node->slots[i]);
    node_free_shell(heap, node);
}

/* Retains every slot of `src` except index `skip` (pass UINT32_MAX for none),
 * on behalf of a copy that will hold them. */
static void retain_slots_except(const ctxs_node *src, unsigned skip) {
    unsigned leaves = ctxs_node_leaves(src), slots = ctxs_node_slots(src);
    for (unsigned i = 0; i < slots; i++) {
        if (i == skip) continue;
        if (i < leaves) {
            leaf_retain(src->slots[i]);
        } else {
            node_retain(src->slots[i]);
        }
    }
}

/* --------------------------------------------------------------- maps */

int ctxs_map_empty_init(ctxs_heap *heap) {
    ctxs_map *empty = ctxs_alloc(heap, sizeof *empty, CTXS_KIND_ROOT);
    if (empty == NULL) return CTXS_ENOMEM;
    atomic_init(&empty->refs, 1);
    empty->immortal = 1;
    empty->heap = heap;
    empty->root = NULL;
    empty->count = 0;
    heap->empty = empty;
    return CTXS_OK;
}

void ctxs_map_empty_free(ctxs_heap *heap) {
    ctxs_free(heap, heap->empty, sizeof(ctxs_map), CTXS_KIND_ROOT);
    heap->empty = NULL;
}

ctxs_map *ctxs_map_fork(ctxs_map *map) {
    atomic_fetch_add_explicit(&map->refs, 1, memory_order_relaxed);
    return map;
}

void ctxs_map_release(ctxs_map *map) {
    if (map == NULL) return;
    if (atomic_fetch_sub_explicit(&map->refs, 1, memory_order_acq_rel) != 1) return;
    ctxs_heap *heap = map->heap;
    if (map->immortal) {
        /* Only the store drops the last reference to its empty map. */
        atomic_store_explicit(&map->refs, 1, memory_order_relaxed);
        return;
    }
    ctxs_node *root = map->root;
    ctxs_free(heap, map, sizeof *map, CTXS_KIND_ROOT);
    if (root != NULL) node_release(heap, root);
}

size_t ctxs_map_count(const ctxs_map *map) { return map->count; }

CTXS_HOT int ctxs_map_find(const ctxs_map *map, uint64_t key, void **value) {
    const ctxs_leaf *leaf = ctxs_find_leaf_inline(map, key);
    if (leaf == NULL || leaf->value == NULL) return 0;
    if (value != NULL) *value = leaf->value;
    return 1;
}

/* ---------------------------------------------------------- the plan */

/* Up to 13 path copies, the 13 nodes of a migration (a two-leaf node and
 * the one-child nodes above it), a leaf and a map. */
#define CTXS_PLAN_MAX (2 * CTXS_TRIE_LEVELS + 2)

/* Objects allocated up front for one operation. */
typedef struct plan {
    ctxs_heap *heap;
    unsigned count;
    unsigned used;
    void *objects[CTXS_PLAN_MAX];
    size_t sizes[CTXS_PLAN_MAX];
    ctxs_kind kinds[CTXS_PLAN_MAX];
} plan;

static inline void plan_init(plan *p, ctxs_heap *heap) {
    p->heap = heap;
    p->count = 0;
    p->used = 0;
}

static inline void plan_need(plan *p, size_t size, ctxs_kind kind) {
    p->sizes[p->count] = size;
    p->kinds[p->count] = kind;
    p->count++;
}

/* Allocates everything planned; on failure frees what it got. */
static int plan_allocate(plan *p) {
    for (unsigned i = 0; i < p->count; i++) {
        p->objects[i] = ctxs_alloc(p->heap, p->sizes[i], p->kinds[i]);
        if (p->objects[i] == NULL) {
            while (i-- > 0) ctxs_free(p->heap, p->objects[i], p->sizes[i], p->kinds[i]);
            return CTXS_ENOMEM;
        }
    }
    return CTXS_OK;
}

/* Hands out the planned objects in the order they were planned. */
static inline void *plan_take(plan *p) { return p->objects[p->used++]; }

/* Plans a node for `slots` entries (with its spare, see capacity_for). */
static inline void plan_need_node(plan *p, unsigned slots) {
    plan_need(p, node_bytes(capacity_for(slots)), CTXS_KIND_NODE);
}

/* Plans the root of a map made by a write to the empty map, with room for
 * four entries: one grain more than capacity_for(1), which fits_in_place
 * still allows. Such a write is nearly always a scope's first (a copy of
 * an empty context shares the empty map), and a scope's next writes then
 * go in place, where a root sized exactly moved (allocated, copied, freed)
 * at the third. Growing every moved node by a grain instead made a set +
 * remove pair move twice (test_in_place): the room is only here. */
static inline void plan_need_first_root(plan *p) {
    plan_need(p, node_bytes(capacity_for(1) + 2u), CTXS_KIND_NODE);
}

static ctxs_node *plan_node(plan *p, uint32_t datamap, uint32_t nodemap) {
    size_t bytes = p->sizes[p->used];
    ctxs_node *node = plan_take(p);
    atomic_init(&node->refs, 1);
    node->datamap = datamap;
    node->nodemap = nodemap;
    node->capacity = (uint32_t)((bytes - sizeof(ctxs_node)) / sizeof(void *));
    return node;
}

static ctxs_map *plan_map(plan *p, ctxs_node *root, size_t count) {
    ctxs_map *map = plan_take(p);
    atomic_init(&map->refs, 1);
    map->immortal = 0;
    map->heap = p->heap;
    map->root = root;
    map->count = count;
    return map;
}

/* ------------------------------------------------------ transitions */

/* A node's next contents: bitmaps and slots, and which slot of the source
 * does not carry over (UINT32_MAX for none). */
typedef struct shape {
    uint32_t datamap;
    uint32_t nodemap;
    unsigned skip;
    void *slots[CTXS_TRIE_FANOUT];
} shape;

/* set-slot: slot i becomes `object`. */
static void shape_set_slot(shape *s, const ctxs_node *src, unsigned i, void *object) {
    s->datamap = src->datamap;
    s->nodemap = src->nodemap;
    s->skip = i;
    memcpy(s->slots, src->slots, ctxs_node_slots(src) * sizeof(void *));
    s->slots[i] = object;
}

/* insert-leaf: fragment `bit` was empty. */
static void shape_insert_leaf(shape *s, const ctxs_node *src, uint32_t bit, ctxs_leaf *leaf) {
    unsigned at = ctxs_bit_index(src->datamap, bit), slots = ctxs_node_slots(src);
    s->datamap = src->datamap | bit;
    s->nodemap = src->nodemap;
    s->skip = UINT32_MAX;
    memcpy(s->slots, src->slots, at * sizeof(void *));
    s->slots[at] = leaf;
    memcpy(s->slots + at + 1, src->slots + at, (slots - at) * sizeof(void *));
}

/* migrate-leaf-to-node: the leaf of fragment `bit` leaves the data group and
 * `child` (which holds it now) joins the child group. */
static void shape_leaf_to_node(shape *s, const ctxs_node *src, uint32_t bit, ctxs_node *child) {
    unsigned from = ctxs_bit_index(src->datamap, bit), leaves = ctxs_node_leaves(src),
             slots = ctxs_node_slots(src);
    unsigned to = leaves - 1 + ctxs_bit_index(src->nodemap, bit);
    s->datamap = src->datamap & ~bit;
    s->nodemap = src->nodemap | bit;
    s->skip = from;
    unsigned j = 0;
    for (unsigned i = 0; i < slots; i++) {
        if (i == from) continue;
        if (j == to) s->slots[j++] = child;
        s->slots[j++] = src->slots[i];
    }
    if (j == to) s->slots[j++] = child;
}

/* migrate-node-to-leaf: the child of fragment `bit` is replaced by `leaf`,
 * inlined into the data group. */
static void shape_node_to_leaf(shape *s, const ctxs_node *src, uint32_t bit, ctxs_leaf *leaf) {
    unsigned leaves = ctxs_node_leaves(src), slots = ctxs_node_slots(src);
    unsigned from = leaves + ctxs_bit_index(src->nodemap, bit),
             to = ctxs_bit_index(src->datamap, bit);
    s->datamap = src->datamap | bit;
    s->nodemap = src->nodemap & ~bit;
    s->skip = from;
    unsigned j = 0;
    for (unsigned i = 0; i < slots; i++) {
        if (i == from) continue;
        if (j == to) s->slots[j++] = leaf;
        s->slots[j++] = src->slots[i];
    }
    if (j == to) s->slots[j++] = leaf;
}

/* remove-leaf. */
static void shape_remove_leaf(shape *s, const ctxs_node *src, uint32_t bit) {
    unsigned at = ctxs_bit_index(src->datamap, bit), slots = ctxs_node_slots(src);
    s->datamap = src->datamap & ~bit;
    s->nodemap = src->nodemap;
    s->skip = at;
    memcpy(s->slots, src->slots, at * sizeof(void *));
    memcpy(s->slots + at, src->slots + at + 1, (slots - at - 1) * sizeof(void *));
}

/* How a level's new contents (`slots` entries) are written:
 *  COPY      into a new node; carried slots are retained (src is shared);
 *  MOVE      into a new node; carried slots move, src's shell is freed
 *            (src is exclusive but its capacity does not fit);
 *  IN_PLACE  over src itself (src is exclusive and fits, see fits_in_place). */
typedef enum write_mode { COPY, MOVE, IN_PLACE } write_mode;

static inline write_mode level_mode(bool exclusive, const ctxs_node *src, unsigned slots) {
    return !exclusive ? COPY : fits_in_place(src->capacity, slots) ? IN_PLACE : MOVE;
}

static inline void plan_level(plan *p, write_mode mode, unsigned slots) {
    if (mode != IN_PLACE) plan_need_node(p, slots);
}

static ctxs_node *emit(plan *p, ctxs_node *src, const shape *s, write_mode mode) {
    unsigned slots = ctxs_popcount32(s->datamap | s->nodemap);
    if (mode == IN_PLACE) {
        src->datamap = s->datamap;
        src->nodemap = s->nodemap;
        memcpy(src->slots, s->slots, slots * sizeof(void *));
        return src;
    }
    ctxs_node *dst = plan_node(p, s->datamap, s->nodemap);
    memcpy(dst->slots, s->slots, slots * sizeof(void *));
    if (mode == COPY) {
        retain_slots_except(src, s->skip);
    } else {
        node_free_shell(p->heap, src);
    }
    return dst;
}

/* ------------------------------------------------------ the edit state */

/* One write in progress: what assoc and without share from the walk to the
 * result. */
typedef struct edit {
    ctxs_map *map;             /* the map written */
    uint64_t key;              /* the key written */
    bool exclusive;            /* the caller holds map's one reference (an exclusive write) */
    unsigned depth;            /* the bottom level: path[depth] holds key's fragment, or would */
    unsigned owned;            /* leading levels of the path this write alone holds */
    uint32_t bit;              /* the key's fragment bit at path[depth] */
    ctxs_leaf *found;          /* the leaf in key's fragment of path[depth] (any key), or NULL */
    ctxs_displaced *displaced; /* what an exclusive write unlinks */
    ctxs_map *result;          /* a persistent write's new map (+1) */
    ctxs_node *path[CTXS_TRIE_LEVELS]; /* the nodes from the root down to path[depth] */
    plan plan;
} edit;

static inline void edit_init(edit *e, ctxs_map *map, uint64_t key, bool exclusive,
                             ctxs_displaced *displaced) {
    e->map = map;
    e->key = key;
    e->exclusive = exclusive;
    e->displaced = displaced;
    /* depth, owned and found are set by edit_walk, result by the write. */
}

/* Walks from the root towards the key, recording the path. Sets depth,
 * bit and found (NULL for an empty fragment), and owned to 0 for edit_own
 * to set. Returns false for an empty map (depth 0, no path). */
static inline bool edit_walk(edit *e) {
    ctxs_node *node = e->map->root;
    e->found = NULL;
    e->owned = 0;
    if (node == NULL) {
        e->depth = 0;
        e->bit = ctxs_fragment_bit(e->key, 0);
        return false;
    }
    unsigned depth = 0, shift = 0;
    uint32_t bit;
    for (;;) {
        e->path[depth] = node;
        bit = ctxs_fragment_bit(e->key, shift);
        if (node->datamap & bit) {
            e->found = ctxs_node_leaf_at(node, bit);
            break;
        }
        if (!(node->nodemap & bit)) break;
        node = ctxs_node_child_at(node, bit);
        depth++;
        shift += CTXS_TRIE_BITS;
    }
    e->depth = depth;
    e->bit = bit;
    return true;
}

/* The key's fragment bit at `level` (e->bit caches it for the bottom). */
static inline uint32_t edit_bit(const edit *e, unsigned level) {
    return ctxs_fragment_bit(e->key, level * CTXS_TRIE_BITS);
}

/* Sets `owned`: for an exclusive write (the map's only holder is the
 * caller, under the slot's lock), a level is the write's alone while it
 * and every node above it has one reference. */
static inline void edit_own(edit *e) {
    unsigned n = 0, levels = e->depth + 1;
    if (e->exclusive) {
        while (n < levels && atomic_load_explicit(&e->path[n]->refs, memory_order_acquire) == 1)
            n++;
    }
    e->owned = n;
}

/* Whether the write may change path[depth] alone, in place: every level
 * of the path is the write's. */
static inline bool edit_owns_path(const edit *e) { return e->owned == e->depth + 1; }

/* Rewrites the levels above `level` so that the child at the key's
 * fragment is `built`, and publishes the result with `count` entries: a
 * new +1 map in e->result, or, for an exclusive write, the map itself
 * updated in place (its reference to a shared node it no longer uses goes
 * to displaced->node). `replaced`: built is not the node that was at
 * path[level]. */
static void finish_path(edit *e, unsigned level, ctxs_node *built, bool replaced, size_t count) {
    while (level-- > 0) {
        ctxs_node *parent = e->path[level];
        uint32_t bit = edit_bit(e, level);
        unsigned i = ctxs_node_leaves(parent) + ctxs_bit_index(parent->nodemap, bit);
        if (level < e->owned) {
            if (!replaced) {
                built = parent;
                continue;
            }
            /* The old child: shared (we drop our reference) or freed by MOVE. */
            if (level + 1 == e->owned) e->displaced->node = parent->slots[i];
            parent->slots[i] = built;
            built = parent;
            replaced = false;
        } else {
            shape s;
            shape_set_slot(&s, parent, i, built);
            built = emit(&e->plan, parent, &s, COPY);
            replaced = true;
        }
    }
    ctxs_map *map = e->map;
    if (e->exclusive) {
        if (replaced && e->owned == 0 && map->root != NULL) e->displaced->node = map->root;
        map->root = built;
        map->count = count;
    } else {
        e->result = plan_map(&e->plan, built, count);
    }
}

void ctxs_displaced_release(ctxs_heap *heap, ctxs_displaced *displaced) {
    if (displaced->leaf != NULL) leaf_release(heap, displaced->leaf);
    if (displaced->node != NULL) node_release(heap, displaced->node);
    displaced->leaf = NULL;
    displaced->node = NULL;
}

/* ------------------------------------------------------- in-place edits */

/* The fast path of an exclusive assoc whose whole path is the write's and
 * whose change stays within the bottom node: a replaced leaf, or a new one
 * where the node has room (see capacity_for). It is the edit that the plan
 * would make with IN_PLACE levels, made in one walk down, before any edit
 * state is built: each level's count is checked on the way (edit_own's
 * rule: a level is the write's while it and every level above have one
 * reference). (callgrind, `make callgrind`, against the same edit made
 * after the general walk, edit_own and the case analysis: a request's scope
 * and its four writes, three of them in place, 3,445 -> 3,332
 * instructions; set-remove 959 -> 927; first-write 1,958 -> 1,937; a
 * replace by the very same value 351 -> 358, the refcounts now read on the
 * way down.) Returns false, having changed nothing, if it does not apply
 * (an empty map, a shared level, another key in the fragment, a full node);
 * otherwise sets *status (CTXS_ENOMEM: nothing changed). `given`, when
 * not NULL, is the leaf to insert (retained here), as in assoc: a slot's
 * flush puts its pending entries into the map it made this way
 * (`request-snapshot`, a scope's four writes and a snapshot: 4,688 -> 4,178
 * instructions). */
CTXS_INLINE bool put_in_place(ctxs_map *map, uint64_t key, void *value, ctxs_leaf *given,
                              ctxs_displaced *displaced, int *status) {
    ctxs_node *at = map->root;
    uint32_t bit;
    for (unsigned shift = 0;; shift += CTXS_TRIE_BITS) {
        if (at == NULL || atomic_load_explicit(&at->refs, memory_order_acquire) != 1) return false;
        bit = ctxs_fragment_bit(key, shift);
        if ((at->datamap & bit) || !(at->nodemap & bit)) break;
        at = ctxs_node_child_at(at, bit);
    }
    unsigned i = ctxs_bit_index(at->datamap, bit);
    bool insert = !(at->datamap & bit);
    unsigned slots = ctxs_node_slots(at);
    if (insert) {
        if (!fits_in_place(at->capacity, slots + 1)) return false;
    } else {
        ctxs_leaf *found = at->slots[i];
        if (found->key != key) return false; /* it migrates down: the general path */
        if (given != NULL ? found == given : found->value == value) { /* ASSOC_SAME */
            *status = CTXS_OK;
            return true;
        }
    }
    ctxs_leaf *leaf;
    if (given != NULL) {
        leaf = given;
        leaf_retain(leaf);
    } else {
        void *memory = ctxs_alloc(map->heap, sizeof(ctxs_leaf), leaf_kind(value));
        if (memory == NULL) {
            *status = CTXS_ENOMEM;
            return true;
        }
        leaf = leaf_init(map->heap, memory, key, value);
    }
    if (insert) {
        /* A plain loop: at most 31 pointers, and a memmove call costs more. */
        for (unsigned j = slots; j > i; j--) at->slots[j] = at->slots[j - 1];
        at->datamap |= bit;
        map->count++;
    } else {
        displaced->leaf = at->slots[i];
    }
    at->slots[i] = leaf;
    *status = CTXS_OK;
    return true;
}

/* The fast path of an exclusive without whose whole path is the write's
 * and where no level collapses (I3 still holds for the bottom node): the
 * leaf is unlinked from its node. Returns false if it does not apply. */
static inline bool unlink_in_place(edit *e) {
    ctxs_node *bottom = e->path[e->depth];
    unsigned slots = ctxs_node_slots(bottom);
    bool collapses =
        e->depth > 0 && ctxs_node_leaves(bottom) == 2 && ctxs_node_children(bottom) == 0;
    if (collapses || !fits_in_place(bottom->capacity, slots - 1)) return false;
    uint32_t bit = e->bit;
    for (unsigned j = ctxs_bit_index(bottom->datamap, bit) + 1; j < slots; j++)
        bottom->slots[j - 1] = bottom->slots[j];
    bottom->datamap &= ~bit;
    e->map->count--;
    e->displaced->leaf = e->found;
    return true;
}

/* ---------------------------------------------------------------- assoc */

typedef enum assoc_case {
    ASSOC_EMPTY,
    ASSOC_SAME,
    ASSOC_REPLACE,
    ASSOC_INSERT,
    ASSOC_MIGRATE
} assoc_case;

/* Levels below `shift` at which two keys still share a fragment: the
 * one-child nodes a migration needs above the node that parts them. */
static inline unsigned shared_levels(uint64_t a, uint64_t b, unsigned shift) {
    unsigned n = 0;
    while (((a ^ b) >> shift & (CTXS_TRIE_FANOUT - 1)) == 0) {
        n++;
        shift += CTXS_TRIE_BITS;
    }
    return n;
}

/* `given`: insert this existing leaf (shared, no value callback) instead
 * of making one for key -> value. */
CTXS_HOT static int assoc(edit *e, void *value, ctxs_leaf *given) {
    ctxs_heap *heap = e->map->heap;
    uint64_t key = e->key;
    ctxs_leaf *other = NULL; /* the leaf a migration moves down */
    unsigned chain = 0;      /* one-child nodes a migration needs */
    assoc_case kind;
    if (!edit_walk(e)) {
        kind = ASSOC_EMPTY;
    } else if (e->found == NULL) {
        kind = ASSOC_INSERT;
    } else if (e->found->key == key) {
        bool same = given != NULL ? e->found == given : e->found->value == value;
        kind = same ? ASSOC_SAME : ASSOC_REPLACE;
    } else {
        kind = ASSOC_MIGRATE;
        other = e->found;
        chain = shared_levels(other->key, key, (e->depth + 1) * CTXS_TRIE_BITS);
    }
    if (kind == ASSOC_SAME) {
        e->result = e->exclusive ? e->map : ctxs_map_fork(e->map);
        return CTXS_OK;
    }
    if (kind != ASSOC_EMPTY) edit_own(e);
    unsigned depth = e->depth;

    /* Plan: list every object the result needs, bottom-up, then allocate. */
    plan *p = &e->plan;
    plan_init(p, heap);
    if (given == NULL) plan_need(p, sizeof(ctxs_leaf), leaf_kind(value));
    write_mode bottom_mode = COPY;
    if (kind == ASSOC_EMPTY) {
        /* callgrind, a request's scope and its four writes: 4,181 -> 3,873
         * instructions. A map of one key costs a grain (16 bytes) more. */
        plan_need_first_root(p);
    } else {
        if (kind == ASSOC_MIGRATE) {
            plan_need_node(p, 2);
            for (unsigned i = 0; i < chain; i++) plan_need_node(p, 1);
        }
        unsigned bottom_slots = ctxs_node_slots(e->path[depth]) + (kind == ASSOC_INSERT);
        bottom_mode = level_mode(depth < e->owned, e->path[depth], bottom_slots);
        plan_level(p, bottom_mode, bottom_slots);
        for (unsigned level = depth; level-- > 0;) {
            if (level >= e->owned) plan_need_node(p, ctxs_node_slots(e->path[level]));
        }
    }
    if (!e->exclusive) plan_need(p, sizeof(ctxs_map), CTXS_KIND_ROOT);
    if (plan_allocate(p) != CTXS_OK) return CTXS_ENOMEM;

    /* Build: nothing below can fail. */
    ctxs_leaf *leaf;
    if (given != NULL) {
        leaf = given;
        leaf_retain(leaf);
    } else {
        leaf = leaf_init(heap, plan_take(p), key, value);
    }

    size_t count = e->map->count + (kind == ASSOC_REPLACE ? 0 : 1);
    if (kind == ASSOC_EMPTY) {
        ctxs_node *root = plan_node(p, ctxs_fragment_bit(key, 0), 0);
        root->slots[0] = leaf;
        finish_path(e, 0, root, true, count);
        return CTXS_OK;
    }
    ctxs_node *at = e->path[depth];
    uint32_t bit = e->bit;
    shape s;
    if (kind == ASSOC_MIGRATE) {
        /* The deepest new node holds both leaves; one-child nodes above. */
        unsigned sh = (depth + 1 + chain) * CTXS_TRIE_BITS;
        uint32_t bit_new = ctxs_fragment_bit(key, sh), bit_old = ctxs_fragment_bit(other->key, sh);
        ctxs_node *sub = plan_node(p, bit_new | bit_old, 0);
        bool new_first = bit_new < bit_old;
        sub->slots[new_first ? 0 : 1] = leaf;
        sub->slots[new_first ? 1 : 0] = other;
        if (bottom_mode == COPY) leaf_retain(other); /* else it moves down */
        for (unsigned i = 0; i < chain; i++) {
            sh -= CTXS_TRIE_BITS;
            ctxs_node *up = plan_node(p, 0, ctxs_fragment_bit(key, sh));
            up->slots[0] = sub;
            sub = up;
        }
        shape_leaf_to_node(&s, at, bit, sub);
    } else if (kind == ASSOC_REPLACE) {
        unsigned i = ctxs_bit_index(at->datamap, bit);
        if (bottom_mode != COPY) e->displaced->leaf = at->slots[i];
        shape_set_slot(&s, at, i, leaf);
    } else {
        shape_insert_leaf(&s, at, bit, leaf);
    }
    ctxs_node *built = emit(p, at, &s, bottom_mode);
    finish_path(e, depth, built, bottom_mode != IN_PLACE, count);
    return CTXS_OK;
}

/* A persistent assoc: the new map in *out on success. */
static int assoc_persistent(ctxs_map *map, uint64_t key, void *value, ctxs_leaf *given,
                            ctxs_map **out) {
    ctxs_displaced none = {NULL, NULL};
    edit e;
    edit_init(&e, map, key, false, &none);
    int status = assoc(&e, value, given);
    if (status == CTXS_OK) *out = CTXS_CHECKED(e.result, "assoc");
    return status;
}

int ctxs_map_assoc_any(ctxs_map *map, uint64_t key, void *value, ctxs_map **out) {
    return assoc_persistent(map, key, value, NULL, out);
}

ctxs_leaf *ctxs_leaf_adopting(ctxs_heap *heap, uint64_t key, void *value) {
    void *memory = ctxs_alloc(heap, sizeof(ctxs_leaf), leaf_kind(value));
    return memory != NULL ? leaf_fill(memory, key, value) : NULL;
}

void ctxs_leaf_drop(ctxs_heap *heap, ctxs_leaf *leaf) { leaf_release(heap, leaf); }

void ctxs_leaf_unmake(ctxs_heap *heap, ctxs_leaf *leaf) {
    ctxs_free(heap, leaf, sizeof *leaf, leaf_kind(leaf->value));
}

int ctxs_map_assoc_leaf(ctxs_map *map, const ctxs_leaf *leaf, ctxs_map **out) {
    return assoc_persistent(map, leaf->key, leaf->value, (ctxs_leaf *)leaf, out);
}

int ctxs_map_assoc_leaf_exclusive(ctxs_map *map, ctxs_leaf *leaf, ctxs_displaced *displaced) {
    int status;
    if (put_in_place(map, leaf->key, leaf->value, leaf, displaced, &status)) {
        if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive assoc of a leaf in place");
        return status;
    }
    edit e;
    edit_init(&e, map, leaf->key, true, displaced);
    status = assoc(&e, leaf->value, leaf);
    if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive assoc of a leaf");
    return status;
}

int ctxs_map_assoc(ctxs_map *map, uint64_t key, void *value, ctxs_map **out) {
    if (value == NULL) return CTXS_EINVAL;
    return assoc_persistent(map, key, value, NULL, out);
}

int ctxs_map_assoc_exclusive(ctxs_map *map, uint64_t key, void *value, ctxs_displaced *displaced) {
    int status;
    if (put_in_place(map, key, value, NULL, displaced, &status)) {
        if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive assoc in place");
        return status;
    }
    edit e;
    edit_init(&e, map, key, true, displaced);
    status = assoc(&e, value, NULL);
    if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive assoc");
    return status;
}

/* -------------------------------------------------------------- without */

CTXS_HOT static int without(edit *e) {
    ctxs_map *map = e->map;
    ctxs_heap *heap = map->heap;
    if (!edit_walk(e) || e->found == NULL || e->found->key != e->key) {
        e->result = e->exclusive ? map : ctxs_map_fork(map); /* absent */
        return CTXS_OK;
    }
    edit_own(e);
    ctxs_leaf *removed = e->found;
    unsigned depth = e->depth;

    if (map->count == 1) {
        if (!e->exclusive) {
            e->result = ctxs_map_empty(heap);
            return CTXS_OK;
        }
        /* The trie is one root node holding one leaf. */
        if (e->owned == 0) {
            e->displaced->node = map->root;
        } else {
            e->displaced->leaf = removed;
            node_free_shell(heap, map->root);
        }
        map->root = NULL;
        map->count = 0;
        return CTXS_OK;
    }
    if (edit_owns_path(e) && unlink_in_place(e)) return CTXS_OK;

    /* Decide the shape. `top` is the deepest level that is rewritten rather
     * than collapsed; `carry` is the lone leaf a collapse carries up. */
    ctxs_node *bottom = e->path[depth];
    bool collapses = depth > 0 && ctxs_node_leaves(bottom) == 2 && ctxs_node_children(bottom) == 0;
    ctxs_leaf *carry = NULL;
    unsigned top = depth;
    if (collapses) {
        carry = bottom->slots[ctxs_bit_index(bottom->datamap, e->bit) == 0 ? 1 : 0];
        top = depth - 1;
        while (top > 0 && ctxs_node_leaves(e->path[top]) == 0 &&
               ctxs_node_children(e->path[top]) == 1)
            top--;
    }

    unsigned top_slots = ctxs_node_slots(e->path[top]) - (carry == NULL);
    write_mode top_mode = level_mode(top < e->owned, e->path[top], top_slots);
    plan *p = &e->plan;
    plan_init(p, heap);
    plan_level(p, top_mode, top_slots);
    for (unsigned level = top; level-- > 0;) {
        if (level >= e->owned) plan_need_node(p, ctxs_node_slots(e->path[level]));
    }
    if (!e->exclusive) plan_need(p, sizeof(ctxs_map), CTXS_KIND_ROOT);
    if (plan_allocate(p) != CTXS_OK) return CTXS_ENOMEM;

    uint32_t bit = edit_bit(e, top);
    shape s;
    if (carry != NULL) {
        /* The collapsed levels top+1 .. depth disappear. Exclusive ones are
         * freed here; at the first shared one, this write only drops its
         * reference, and the carried leaf gains one for its new parent. */
        unsigned level = top + 1;
        for (; level <= depth && level < e->owned; level++) node_free_shell(heap, e->path[level]);
        if (level <= depth) {
            if (top < e->owned) e->displaced->node = e->path[level];
            leaf_retain(carry);
        } else {
            e->displaced->leaf = removed;
        }
        shape_node_to_leaf(&s, e->path[top], bit, carry);
    } else {
        if (top_mode != COPY) e->displaced->leaf = removed;
        shape_remove_leaf(&s, e->path[top], bit);
    }
    ctxs_node *built = emit(p, e->path[top], &s, top_mode);
    finish_path(e, top, built, top_mode != IN_PLACE, map->count - 1);
    return CTXS_OK;
}

int ctxs_map_without(ctxs_map *map, uint64_t key, ctxs_map **out) {
    ctxs_displaced none = {NULL, NULL};
    edit e;
    edit_init(&e, map, key, false, &none);
    int status = without(&e);
    if (status == CTXS_OK) *out = CTXS_CHECKED(e.result, "without");
    return status;
}

int ctxs_map_without_exclusive(ctxs_map *map, uint64_t key, ctxs_displaced *displaced) {
    edit e;
    edit_init(&e, map, key, true, displaced);
    int status = without(&e);
    if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive without");
    return status;
}
