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
 * Key ids are not hashed here. ctxs_intern hands out ids that are already a
 * bijective 64-bit mix of a counter, so their bits are well spread; distinct
 * keys have distinct 64-bit "hashes", and the trie needs no collision nodes.
 * A C caller choosing its own ids gets a correct map in any case: two
 * distinct keys always differ in some bit, so they part by level 12 at worst.
 * Level L uses bits [5L, 5L + 5) of the key; level 12 uses bits 60..63.
 *
 * Layout
 * ------
 *     ctxs_map (the root object: refs, store, count)
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
 * Invariants (checked by ctxs_map_check)
 * --------------------------------------
 *  I1. datamap & nodemap == 0; a node holds popcount(both) slots and has
 *      room for capacity >= that many (an even number, at most 32; the
 *      allocation is 16 + 8 * capacity bytes). Only an exclusive write
 *      (see "Exclusive writes" below) uses the spare room.
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
 * new leaf where there is room, a removal that collapses nothing),
 * edit_in_place and its twin in `without` skip the plan entirely.
 *
 * Errors
 * ------
 * assoc and without first walk the trie to learn exactly which objects the
 * result needs, allocate all of them, and only then build. An allocation
 * failure therefore frees the fresh objects and returns CTXS_ENOMEM before
 * anything has been retained or published: the old map is untouched.
 */
#include "internal.h"

#include <string.h>

#ifdef CTXS_CHECK_INVARIANTS
#include <stdio.h>
#include <stdlib.h>
/* Opt-in (debug and sanitizer builds): every map of up to 1,024 entries a
 * write makes is checked against I1-I4 before it is returned. The check is
 * O(n) and runs under a slot's lock for slot writes, so larger maps (the
 * concurrency tests' thousands of keys) are left to the model checks. */
static ctxs_map *checked(ctxs_map *map, const char *operation) {
    if (map->count <= 1024 && !ctxs_map_check(map)) {
        fprintf(stderr, "CContextStore: %s broke a trie invariant\n", operation);
        abort();
    }
    return map;
}
#define CTXS_CHECKED(map, operation) checked((map), (operation))
#else
#define CTXS_CHECKED(map, operation) (map)
#endif

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

/* ----------------------------------------------------------- refcounts */

static inline void leaf_retain(ctxs_leaf *leaf) {
    atomic_fetch_add_explicit(&leaf->refs, 1, memory_order_relaxed);
}

static inline void node_retain(ctxs_node *node) {
    atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
}

static void leaf_release(ctxs_store *store, ctxs_leaf *leaf) {
    if (atomic_fetch_sub_explicit(&leaf->refs, 1, memory_order_acq_rel) != 1) return;
    void *value = leaf->value;
    ctxs_free(store, leaf, sizeof *leaf, value != NULL ? CTXS_KIND_LEAF : CTXS_KIND_TOMB);
    ctxs_value_release(store, value);
}

/* Recursion depth is bounded by CTXS_MAX_LEVELS. */
CTXS_HOT static void node_release(ctxs_store *store, ctxs_node *node) {
    if (atomic_fetch_sub_explicit(&node->refs, 1, memory_order_acq_rel) != 1) return;
    unsigned leaves = node_leaves(node), slots = node_slots(node);
    for (unsigned i = 0; i < leaves; i++) leaf_release(store, node->slots[i]);
    for (unsigned i = leaves; i < slots; i++) node_release(store, node->slots[i]);
    ctxs_free(store, node, node_bytes(node->capacity), CTXS_KIND_NODE);
}

/* Retains every slot of `src` except index `skip` (pass UINT32_MAX for none),
 * on behalf of a copy that will hold them. */
static void retain_slots_except(const ctxs_node *src, unsigned skip) {
    unsigned leaves = node_leaves(src), slots = node_slots(src);
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

ctxs_map *ctxs_map_new(ctxs_store *store) { return ctxs_map_fork(store->empty); }

ctxs_map *ctxs_map_fork(ctxs_map *map) {
    atomic_fetch_add_explicit(&map->refs, 1, memory_order_relaxed);
    return map;
}

void ctxs_map_release(ctxs_map *map) {
    if (map == NULL) return;
    if (atomic_fetch_sub_explicit(&map->refs, 1, memory_order_acq_rel) != 1) return;
    ctxs_store *store = map->store;
    if (map->immortal) {
        /* Only the store drops the last reference to its empty map. */
        atomic_store_explicit(&map->refs, 1, memory_order_relaxed);
        return;
    }
    ctxs_node *root = map->root;
    ctxs_free(store, map, sizeof *map, CTXS_KIND_ROOT);
    if (root != NULL) node_release(store, root);
}

ctxs_store *ctxs_map_store(const ctxs_map *map) { return map->store; }

size_t ctxs_map_count(const ctxs_map *map) { return map->count; }

CTXS_HOT int ctxs_map_find(const ctxs_map *map, uint64_t key, void **value) {
    const ctxs_leaf *leaf = ctxs_find_leaf_inline(map, key);
    if (leaf == NULL || leaf->value == NULL) return 0;
    if (value != NULL) *value = leaf->value;
    return 1;
}

/* ---------------------------------------------------------- the plan */

/* Up to 13 path copies, 12 chain nodes of a migration, a leaf and a map. */
#define CTXS_PLAN_MAX 28

/* Objects allocated up front for one operation. */
typedef struct plan {
    ctxs_store *store;
    unsigned count;
    unsigned used;
    void *objects[CTXS_PLAN_MAX];
    size_t sizes[CTXS_PLAN_MAX];
    ctxs_kind kinds[CTXS_PLAN_MAX];
} plan;

static inline void plan_init(plan *p, ctxs_store *store) {
    p->store = store;
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
        p->objects[i] = ctxs_alloc(p->store, p->sizes[i], p->kinds[i]);
        if (p->objects[i] == NULL) {
            while (i-- > 0) ctxs_free(p->store, p->objects[i], p->sizes[i], p->kinds[i]);
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

static ctxs_node *plan_node(plan *p, uint32_t datamap, uint32_t nodemap) {
    size_t bytes = p->sizes[p->used];
    ctxs_node *node = plan_take(p);
    atomic_init(&node->refs, 1);
    node->datamap = datamap;
    node->nodemap = nodemap;
    node->capacity = (uint32_t)((bytes - sizeof(ctxs_node)) / sizeof(void *));
    return node;
}

static ctxs_map *plan_map(plan *p, ctxs_store *store, ctxs_node *root, size_t count) {
    ctxs_map *map = plan_take(p);
    atomic_init(&map->refs, 1);
    map->immortal = 0;
    map->store = store;
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
    void *slots[CTXS_FANOUT];
} shape;

/* set-slot: slot i becomes `object`. */
static void shape_set_slot(shape *s, const ctxs_node *src, unsigned i, void *object) {
    s->datamap = src->datamap;
    s->nodemap = src->nodemap;
    s->skip = i;
    memcpy(s->slots, src->slots, node_slots(src) * sizeof(void *));
    s->slots[i] = object;
}

/* insert-leaf: fragment `bit` was empty. */
static void shape_insert_leaf(shape *s, const ctxs_node *src, uint32_t bit, ctxs_leaf *leaf) {
    unsigned at = bit_index(src->datamap, bit), slots = node_slots(src);
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
    unsigned from = bit_index(src->datamap, bit), leaves = node_leaves(src),
             slots = node_slots(src);
    unsigned to = leaves - 1 + bit_index(src->nodemap, bit);
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
    unsigned leaves = node_leaves(src), slots = node_slots(src);
    unsigned from = leaves + bit_index(src->nodemap, bit), to = bit_index(src->datamap, bit);
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
    unsigned at = bit_index(src->datamap, bit), slots = node_slots(src);
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
    unsigned slots = popcount32(s->datamap | s->nodemap);
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
        ctxs_free(p->store, src, node_bytes(src->capacity), CTXS_KIND_NODE);
    }
    return dst;
}

/* Number of leading path levels that belong to this write alone: for an
 * exclusive map (its only holder is the caller, under the slot's lock), a
 * level is exclusive while it and every node above it has one reference. */
static unsigned exclusive_levels(bool exclusive, ctxs_node *const *path, unsigned levels) {
    unsigned n = 0;
    if (!exclusive) return 0;
    while (n < levels && atomic_load_explicit(&path[n]->refs, memory_order_acquire) == 1) n++;
    return n;
}

/* Rewrites the levels above `level` so that the child at `key`'s fragment
 * is `built`, and publishes the result: a new +1 map in *out, or, for an
 * exclusive map, the map itself updated in place (its reference to a shared
 * node it no longer uses goes to displaced->node). */
static void finish_path(plan *p, ctxs_map *map, ctxs_node **path, unsigned level, unsigned owned,
                        uint64_t key, ctxs_node *built, bool replaced, size_t count, bool exclusive,
                        ctxs_displaced *displaced, ctxs_map **out) {
    /* `replaced`: built is not the node that was at path[level]. */
    while (level-- > 0) {
        ctxs_node *parent = path[level];
        uint32_t bit = fragment_bit(key, level * CTXS_BITS);
        unsigned i = node_leaves(parent) + bit_index(parent->nodemap, bit);
        if (level < owned) {
            if (!replaced) {
                built = parent;
                continue;
            }
            /* The old child: shared (we drop our reference) or freed by MOVE. */
            if (level + 1 == owned) displaced->node = parent->slots[i];
            parent->slots[i] = built;
            built = parent;
            replaced = false;
        } else {
            shape s;
            shape_set_slot(&s, parent, i, built);
            built = emit(p, parent, &s, COPY);
            replaced = true;
        }
    }
    if (exclusive) {
        if (replaced && owned == 0 && map->root != NULL) displaced->node = map->root;
        map->root = built;
        map->count = count;
        *out = map;
    } else {
        *out = plan_map(p, map->store, built, count);
    }
}

void ctxs_displaced_release(ctxs_store *store, ctxs_displaced *displaced) {
    if (displaced->leaf != NULL) leaf_release(store, displaced->leaf);
    if (displaced->node != NULL) node_release(store, displaced->node);
    displaced->leaf = NULL;
    displaced->node = NULL;
}

/* ---------------------------------------------------------------- assoc */

/* The fast path of an exclusive write whose whole path is exclusive and
 * whose change stays within the bottom node `at`: a replaced leaf, or a new
 * one where `at` has room (see capacity_for). It is the same edit that the
 * plan below would make with IN_PLACE levels, without staging the node's
 * slots or revisiting the levels above. Returns false if it does not apply;
 * otherwise sets *status (CTXS_ENOMEM: nothing changed). */
static inline bool edit_in_place(ctxs_map *map, ctxs_node *at, uint32_t bit, uint64_t key,
                                 void *value, bool insert, ctxs_displaced *displaced, int *status) {
    unsigned slots = node_slots(at);
    if (insert && !fits_in_place(at->capacity, slots + 1)) return false;
    ctxs_leaf *leaf =
        ctxs_alloc(map->store, sizeof *leaf, value != NULL ? CTXS_KIND_LEAF : CTXS_KIND_TOMB);
    if (leaf == NULL) {
        *status = CTXS_ENOMEM;
        return true;
    }
    atomic_init(&leaf->refs, 1);
    leaf->unused = 0;
    leaf->key = key;
    leaf->value = value;
    ctxs_value_retain(map->store, value);
    unsigned i = bit_index(at->datamap, bit);
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

typedef enum assoc_case {
    ASSOC_EMPTY,
    ASSOC_SAME,
    ASSOC_REPLACE,
    ASSOC_INSERT,
    ASSOC_MIGRATE
} assoc_case;

/* `given`: insert this existing leaf (shared, no value callback) instead
 * of making one for key -> value. */
CTXS_HOT static int assoc(ctxs_map *map, uint64_t key, void *value, ctxs_leaf *given,
                          bool exclusive, ctxs_map **out, ctxs_displaced *displaced) {
    ctxs_store *store = map->store;
    ctxs_node *path[CTXS_MAX_LEVELS];
    unsigned depth = 0, shift = 0;
    ctxs_node *node = map->root;
    ctxs_leaf *other = NULL; /* the leaf a migration moves down */
    unsigned chain = 0;      /* one-child nodes a migration needs */
    assoc_case kind;

    /* Walk: find where the key goes. */
    if (node == NULL) {
        kind = ASSOC_EMPTY;
    } else {
        for (;;) {
            path[depth] = node;
            uint32_t bit = fragment_bit(key, shift);
            if (node->datamap & bit) {
                other = node->slots[bit_index(node->datamap, bit)];
                if (other->key == key) {
                    kind = (given != NULL ? other == given : other->value == value) ? ASSOC_SAME
                                                                                    : ASSOC_REPLACE;
                } else {
                    kind = ASSOC_MIGRATE;
                    unsigned s = shift + CTXS_BITS;
                    while (((other->key ^ key) >> s & (CTXS_FANOUT - 1)) == 0) {
                        chain++;
                        s += CTXS_BITS;
                    }
                }
                break;
            }
            if (!(node->nodemap & bit)) {
                kind = ASSOC_INSERT;
                break;
            }
            node = node->slots[node_leaves(node) + bit_index(node->nodemap, bit)];
            depth++;
            shift += CTXS_BITS;
        }
    }
    if (kind == ASSOC_SAME) {
        *out = exclusive ? map : ctxs_map_fork(map);
        return CTXS_OK;
    }
    unsigned owned = kind == ASSOC_EMPTY ? 0 : exclusive_levels(exclusive, path, depth + 1);
    if (owned == depth + 1 && given == NULL && (kind == ASSOC_REPLACE || kind == ASSOC_INSERT)) {
        int status;
        if (edit_in_place(map, path[depth], fragment_bit(key, shift), key, value,
                          kind == ASSOC_INSERT, displaced, &status)) {
            *out = map;
            return status;
        }
    }

    /* Plan: list every object the result needs, bottom-up, then allocate. */
    plan p;
    plan_init(&p, store);
    if (given == NULL)
        plan_need(&p, sizeof(ctxs_leaf), value != NULL ? CTXS_KIND_LEAF : CTXS_KIND_TOMB);
    write_mode bottom_mode = COPY;
    if (kind == ASSOC_EMPTY) {
        plan_need_node(&p, 1);
    } else {
        if (kind == ASSOC_MIGRATE) {
            plan_need_node(&p, 2);
            for (unsigned i = 0; i < chain; i++) plan_need_node(&p, 1);
        }
        unsigned bottom_slots = node_slots(path[depth]) + (kind == ASSOC_INSERT);
        bottom_mode = level_mode(depth < owned, path[depth], bottom_slots);
        plan_level(&p, bottom_mode, bottom_slots);
        for (unsigned level = depth; level-- > 0;) {
            if (level >= owned) plan_need_node(&p, node_slots(path[level]));
        }
    }
    if (!exclusive) plan_need(&p, sizeof(ctxs_map), CTXS_KIND_ROOT);
    if (plan_allocate(&p) != CTXS_OK) return CTXS_ENOMEM;

    /* Build: nothing below can fail. */
    ctxs_leaf *leaf;
    if (given != NULL) {
        leaf = given;
        leaf_retain(leaf);
    } else {
        leaf = plan_take(&p);
        atomic_init(&leaf->refs, 1);
        leaf->unused = 0;
        leaf->key = key;
        leaf->value = value;
        ctxs_value_retain(store, value);
    }

    size_t count = map->count + (kind == ASSOC_REPLACE ? 0 : 1);
    if (kind == ASSOC_EMPTY) {
        ctxs_node *root = plan_node(&p, fragment_bit(key, 0), 0);
        root->slots[0] = leaf;
        finish_path(&p, map, path, 0, 0, key, root, true, count, exclusive, displaced, out);
        return CTXS_OK;
    }
    ctxs_node *at = path[depth];
    uint32_t bit = fragment_bit(key, depth * CTXS_BITS);
    shape s;
    if (kind == ASSOC_MIGRATE) {
        /* The deepest new node holds both leaves; one-child nodes above. */
        unsigned sh = depth * CTXS_BITS + CTXS_BITS * (chain + 1);
        uint32_t bit_new = fragment_bit(key, sh), bit_old = fragment_bit(other->key, sh);
        ctxs_node *sub = plan_node(&p, bit_new | bit_old, 0);
        bool new_first = bit_new < bit_old;
        sub->slots[new_first ? 0 : 1] = leaf;
        sub->slots[new_first ? 1 : 0] = other;
        if (bottom_mode == COPY) leaf_retain(other); /* else it moves down */
        for (unsigned i = 0; i < chain; i++) {
            sh -= CTXS_BITS;
            ctxs_node *up = plan_node(&p, 0, fragment_bit(key, sh));
            up->slots[0] = sub;
            sub = up;
        }
        shape_leaf_to_node(&s, at, bit, sub);
    } else if (kind == ASSOC_REPLACE) {
        unsigned i = bit_index(at->datamap, bit);
        if (bottom_mode != COPY) displaced->leaf = at->slots[i];
        shape_set_slot(&s, at, i, leaf);
    } else {
        shape_insert_leaf(&s, at, bit, leaf);
    }
    ctxs_node *built = emit(&p, at, &s, bottom_mode);
    finish_path(&p, map, path, depth, owned, key, built, bottom_mode != IN_PLACE, count, exclusive,
                displaced, out);
    return CTXS_OK;
}

int ctxs_map_assoc_any(ctxs_map *map, uint64_t key, void *value, ctxs_map **out) {
    ctxs_displaced none = {NULL, NULL};
    int status = assoc(map, key, value, NULL, false, out, &none);
    if (status == CTXS_OK) *out = CTXS_CHECKED(*out, "assoc");
    return status;
}

int ctxs_map_assoc_leaf(ctxs_map *map, const ctxs_leaf *leaf, ctxs_map **out) {
    ctxs_displaced none = {NULL, NULL};
    int status = assoc(map, leaf->key, leaf->value, (ctxs_leaf *)leaf, false, out, &none);
    if (status == CTXS_OK) *out = CTXS_CHECKED(*out, "assoc");
    return status;
}

int ctxs_map_assoc(ctxs_map *map, uint64_t key, void *value, ctxs_map **out) {
    if (value == NULL) return CTXS_EINVAL;
    return ctxs_map_assoc_any(map, key, value, out);
}

int ctxs_map_assoc_exclusive(ctxs_map *map, uint64_t key, void *value, ctxs_displaced *displaced) {
    ctxs_map *same;
    int status = assoc(map, key, value, NULL, true, &same, displaced);
    if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive assoc");
    return status;
}

/* -------------------------------------------------------------- without */

CTXS_HOT static int without(ctxs_map *map, uint64_t key, bool exclusive, ctxs_map **out,
                            ctxs_displaced *displaced) {
    ctxs_store *store = map->store;
    ctxs_node *path[CTXS_MAX_LEVELS];
    unsigned depth = 0, shift = 0;
    ctxs_node *node = map->root;
    ctxs_leaf *removed;

    /* Walk to the leaf. */
    for (;;) {
        if (node == NULL) goto absent;
        path[depth] = node;
        uint32_t bit = fragment_bit(key, shift);
        if (node->datamap & bit) {
            removed = node->slots[bit_index(node->datamap, bit)];
            if (removed->key != key) goto absent;
            break;
        }
        if (!(node->nodemap & bit)) goto absent;
        node = node->slots[node_leaves(node) + bit_index(node->nodemap, bit)];
        depth++;
        shift += CTXS_BITS;
    }
    unsigned owned = exclusive_levels(exclusive, path, depth + 1);

    if (map->count == 1) {
        if (!exclusive) {
            *out = ctxs_map_new(store);
            return CTXS_OK;
        }
        /* The trie is one root node holding one leaf. */
        if (owned == 0) {
            displaced->node = map->root;
        } else {
            displaced->leaf = removed;
            ctxs_free(store, map->root, node_bytes(map->root->capacity), CTXS_KIND_NODE);
        }
        map->root = NULL;
        map->count = 0;
        *out = map;
        return CTXS_OK;
    }

    ctxs_node *bottom = path[depth];
    uint32_t bottom_bit = fragment_bit(key, shift);
    bool collapses = depth > 0 && node_leaves(bottom) == 2 && node_children(bottom) == 0;
    if (owned == depth + 1 && !collapses &&
        fits_in_place(bottom->capacity, node_slots(bottom) - 1)) {
        /* Fast path: the whole path is exclusive and no level collapses
         * (I3 still holds for the bottom node), so the leaf is simply
         * unlinked from its node. */
        unsigned i = bit_index(bottom->datamap, bottom_bit);
        for (unsigned j = i + 1, n = node_slots(bottom); j < n; j++)
            bottom->slots[j - 1] = bottom->slots[j];
        bottom->datamap &= ~bottom_bit;
        map->count--;
        displaced->leaf = removed;
        *out = map;
        return CTXS_OK;
    }

    /* Decide the shape. `top` is the deepest level that is rewritten rather
     * than collapsed; `carry` is the lone leaf a collapse carries up. */
    ctxs_leaf *carry = NULL;
    unsigned top = depth;
    if (collapses) {
        uint32_t bit = fragment_bit(key, depth * CTXS_BITS);
        carry = bottom->slots[bit_index(bottom->datamap, bit) == 0 ? 1 : 0];
        top = depth - 1;
        while (top > 0 && node_leaves(path[top]) == 0 && node_children(path[top]) == 1) top--;
    }

    unsigned top_slots = node_slots(path[top]) - (carry == NULL);
    write_mode top_mode = level_mode(top < owned, path[top], top_slots);
    plan p;
    plan_init(&p, store);
    plan_level(&p, top_mode, top_slots);
    for (unsigned level = top; level-- > 0;) {
        if (level >= owned) plan_need_node(&p, node_slots(path[level]));
    }
    if (!exclusive) plan_need(&p, sizeof(ctxs_map), CTXS_KIND_ROOT);
    if (plan_allocate(&p) != CTXS_OK) return CTXS_ENOMEM;

    uint32_t bit = fragment_bit(key, top * CTXS_BITS);
    shape s;
    if (carry != NULL) {
        /* The collapsed levels top+1 .. depth disappear. Exclusive ones are
         * freed here; at the first shared one, this write only drops its
         * reference, and the carried leaf gains one for its new parent. */
        unsigned level = top + 1;
        for (; level <= depth && level < owned; level++) {
            ctxs_free(store, path[level], node_bytes(path[level]->capacity), CTXS_KIND_NODE);
        }
        if (level <= depth) {
            if (top < owned) displaced->node = path[level];
            leaf_retain(carry);
        } else {
            displaced->leaf = removed;
        }
        shape_node_to_leaf(&s, path[top], bit, carry);
    } else {
        if (top_mode != COPY) displaced->leaf = removed;
        shape_remove_leaf(&s, path[top], bit);
    }
    ctxs_node *built = emit(&p, path[top], &s, top_mode);
    finish_path(&p, map, path, top, owned, key, built, top_mode != IN_PLACE, map->count - 1,
                exclusive, displaced, out);
    return CTXS_OK;

absent:
    *out = exclusive ? map : ctxs_map_fork(map);
    return CTXS_OK;
}

int ctxs_map_without(ctxs_map *map, uint64_t key, ctxs_map **out) {
    ctxs_displaced none = {NULL, NULL};
    int status = without(map, key, false, out, &none);
    if (status == CTXS_OK) *out = CTXS_CHECKED(*out, "without");
    return status;
}

int ctxs_map_without_exclusive(ctxs_map *map, uint64_t key, ctxs_displaced *displaced) {
    ctxs_map *same;
    int status = without(map, key, true, &same, displaced);
    if (status == CTXS_OK) (void)CTXS_CHECKED(map, "exclusive without");
    return status;
}
