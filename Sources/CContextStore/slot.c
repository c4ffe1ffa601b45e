/*
 * Scope slots: the one mutable thing in the store.
 *
 * A slot holds the current map of one context scope behind a spin lock.
 * Readers take the lock only long enough to walk the trie and retain the one
 * value they hand out; writers build the new map under the lock (so two
 * writers never lose an update) and release the old map after dropping it,
 * so a release callback that re-enters the store cannot deadlock. Because a
 * map is only ever released by the writer that unpublished it, no reader can
 * touch a map after it is freed.
 *
 * A chained slot holds a layer over a live parent slot:
 *   - a read looks in the layer, then (unless the layer was cleared) in the
 *     parent, and so on up the chain;
 *   - a removal writes a tombstone (a leaf whose value is NULL) into the
 *     layer, which hides the inherited key;
 *   - clear empties the layer and sets `cleared`, which hides everything
 *     inherited.
 * Lock order: a thread holds at most one slot lock at a time, and may take
 * an arena pool lock inside it; the pools never take a slot lock.
 */
#include "internal.h"

#include <string.h>

ctxs_slot *ctxs_slot_create(ctxs_store *store, ctxs_map *initial, ctxs_slot *parent) {
    if (parent != NULL && (initial != NULL || parent->store != store)) return NULL;
    if (initial != NULL && initial->store != store) return NULL;
    ctxs_slot *slot = ctxs_alloc(store, sizeof *slot, CTXS_KIND_SLOT);
    if (slot == NULL) return NULL;
    atomic_init(&slot->refs, 1);
    atomic_init(&slot->lock.held, 0);
    slot->cleared = false;
    slot->memo = NULL;
    slot->map = initial != NULL ? ctxs_map_fork(initial) : ctxs_map_new(store);
    slot->parent = parent != NULL ? ctxs_slot_retain(parent) : NULL;
    slot->store = store;
    slot->depth = parent != NULL ? parent->depth + 1 : 0;
    return slot;
}

ctxs_slot *ctxs_slot_retain(ctxs_slot *slot) {
    atomic_fetch_add_explicit(&slot->refs, 1, memory_order_relaxed);
    return slot;
}

/* Iterative, so releasing the last of 10,000 chained slots does not recurse. */
void ctxs_slot_release(ctxs_slot *slot) {
    while (slot != NULL) {
        if (atomic_fetch_sub_explicit(&slot->refs, 1, memory_order_acq_rel) != 1) return;
        ctxs_slot *parent = slot->parent;
        ctxs_map *map = slot->map;
        void *memo = slot->memo;
        ctxs_store *store = slot->store;
        ctxs_free(store, slot, sizeof *slot, CTXS_KIND_SLOT);
        ctxs_map_release(map);
        ctxs_value_release(store, memo);
        slot = parent;
    }
}

ctxs_slot *ctxs_slot_parent(const ctxs_slot *slot) { return slot->parent; }

size_t ctxs_slot_depth(const ctxs_slot *slot) { return slot->depth; }

CTXS_HOT int ctxs_slot_find(ctxs_slot *slot, uint64_t key, void **value) {
    for (ctxs_slot *s = slot; s != NULL; s = s->parent) {
        ctxs_lock_acquire(&s->lock);
        const ctxs_leaf *leaf = ctxs_find_leaf_inline(s->map, key);
        if (leaf != NULL) {
            void *v = leaf->value;
            /* Retained under the lock: once it is dropped a writer may free
             * the leaf. retain callbacks must not re-enter the store. */
            if (v != NULL && value != NULL) ctxs_value_retain(s->store, v);
            ctxs_lock_release(&s->lock);
            if (v == NULL) return 0; /* a tombstone */
            if (value != NULL) *value = v;
            return 1;
        }
        bool cleared = s->cleared;
        ctxs_lock_release(&s->lock);
        if (cleared) return 0;
    }
    return 0;
}

CTXS_HOT int ctxs_slot_read_begin(ctxs_slot *slot, uint64_t key, void **value, ctxs_slot **held) {
    for (ctxs_slot *s = slot; s != NULL; s = s->parent) {
        ctxs_lock_acquire(&s->lock);
        const ctxs_leaf *leaf = ctxs_find_leaf_inline(s->map, key);
        if (leaf != NULL && leaf->value != NULL) {
            *value = leaf->value;
            *held = s; /* stays locked until ctxs_slot_read_end */
            return 1;
        }
        bool stop = leaf != NULL || s->cleared; /* a tombstone, or a cleared layer */
        ctxs_lock_release(&s->lock);
        if (stop) return 0;
    }
    return 0;
}

void ctxs_slot_read_end(ctxs_slot *held) { ctxs_lock_release(&held->lock); }

int ctxs_slot_memo_get(ctxs_slot *slot, void **memo) {
    ctxs_lock_acquire(&slot->lock);
    void *m = slot->memo;
    if (m != NULL) ctxs_value_retain(slot->store, m);
    ctxs_lock_release(&slot->lock);
    if (m == NULL) return 0;
    *memo = m;
    return 1;
}

int ctxs_slot_memo_set(ctxs_slot *slot, const ctxs_map *map, void *memo) {
    if (slot->parent != NULL || memo == NULL) return 0;
    int stored = 0;
    ctxs_lock_acquire(&slot->lock);
    if (slot->memo == NULL && slot->map == map) {
        ctxs_value_retain(slot->store, memo);
        slot->memo = memo;
        stored = 1;
    }
    ctxs_lock_release(&slot->lock);
    return stored;
}

/* Takes the memo out (the lock is held); the caller releases it unlocked. */
static inline void *take_memo(ctxs_slot *slot) {
    void *memo = slot->memo;
    slot->memo = NULL;
    return memo;
}

/* Applies one write to the slot's map under the lock. A map only the slot
 * holds is written in place; a shared one (a snapshot or a fork holds it
 * too) is replaced by a new version, and the old one released afterwards. */
static int slot_update(ctxs_slot *slot, uint64_t key, void *value, bool remove) {
    ctxs_displaced displaced = {NULL, NULL};
    ctxs_map *next = NULL;
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *old = slot->map;
    bool exclusive = !old->immortal && atomic_load_explicit(&old->refs, memory_order_acquire) == 1;
    bool tombstone = remove && slot->parent != NULL && !slot->cleared; /* hides the inherited key */
    int status;
    if (exclusive) {
        status = remove && !tombstone ? ctxs_map_without_exclusive(old, key, &displaced)
                                      : ctxs_map_assoc_exclusive(old, key, remove ? NULL : value, &displaced);
    } else {
        status = remove && !tombstone ? ctxs_map_without(old, key, &next)
                                      : ctxs_map_assoc_any(old, key, remove ? NULL : value, &next);
        if (status == CTXS_OK) slot->map = next;
    }
    void *memo = status == CTXS_OK ? take_memo(slot) : NULL;
    ctxs_lock_release(&slot->lock);
    if (status == CTXS_OK && !exclusive) ctxs_map_release(old);
    ctxs_displaced_release(slot->store, &displaced);
    ctxs_value_release(slot->store, memo);
    return status;
}

int ctxs_slot_assoc(ctxs_slot *slot, uint64_t key, void *value) {
    if (value == NULL) return CTXS_EINVAL;
    return slot_update(slot, key, value, false);
}

int ctxs_slot_without(ctxs_slot *slot, uint64_t key) { return slot_update(slot, key, NULL, true); }

int ctxs_slot_clear(ctxs_slot *slot) {
    ctxs_map *empty = ctxs_map_new(slot->store);
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *old = slot->map;
    slot->map = empty;
    if (slot->parent != NULL) slot->cleared = true;
    void *memo = take_memo(slot);
    ctxs_lock_release(&slot->lock);
    ctxs_map_release(old);
    ctxs_value_release(slot->store, memo);
    return CTXS_OK;
}

int ctxs_slot_replace(ctxs_slot *slot, ctxs_map *map) {
    if (map->store != slot->store) return CTXS_EINVAL;
    ctxs_map *mine = ctxs_map_fork(map);
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *old = slot->map;
    slot->map = mine;
    if (slot->parent != NULL) slot->cleared = true;
    void *memo = take_memo(slot);
    ctxs_lock_release(&slot->lock);
    ctxs_map_release(old);
    ctxs_value_release(slot->store, memo);
    return CTXS_OK;
}

/* Reads one slot's layer and flag consistently. */
static ctxs_map *slot_layer(ctxs_slot *slot, bool *cleared) {
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *layer = ctxs_map_fork(slot->map);
    *cleared = slot->cleared;
    ctxs_lock_release(&slot->lock);
    return layer;
}

/* Applies a layer's entries (tombstones as removals) onto *base, replacing
 * *base with the result. On error *base is unchanged. */
static int apply_layer(ctxs_map **base, const ctxs_map *layer) {
    ctxs_map_iter iter;
    ctxs_map_iter_init(&iter, layer);
    uint64_t key;
    void *value;
    ctxs_map *current = ctxs_map_fork(*base);
    while (ctxs_map_iter_next(&iter, &key, &value)) {
        ctxs_map *next;
        int status = value != NULL ? ctxs_map_assoc_any(current, key, value, &next)
                                   : ctxs_map_without(current, key, &next);
        if (status != CTXS_OK) {
            ctxs_map_release(current);
            return status;
        }
        ctxs_map_release(current);
        current = next;
    }
    ctxs_map_release(*base);
    *base = current;
    return CTXS_OK;
}

int ctxs_slot_snapshot(ctxs_slot *slot, ctxs_map **out) {
    bool cleared;
    ctxs_map *layer = slot_layer(slot, &cleared);
    if (slot->parent == NULL) {
        *out = layer;
        return CTXS_OK;
    }
    /* Collect the layers from this slot up to the first that stands alone
     * (a plain slot, or a cleared layer), then apply them top-down. The
     * chain can be 10,000 deep, so a deep one goes in a heap array. */
    ctxs_map *small[16];
    size_t capacity = slot->depth + 1;
    ctxs_map **layers = small;
    if (capacity > 16) {
        layers = ctxs_malloc(slot->store, capacity * sizeof *layers);
        if (layers == NULL) {
            ctxs_map_release(layer);
            return CTXS_ENOMEM;
        }
    }
    size_t n = 0;
    bool top_is_plain = false;
    layers[n++] = layer;
    for (ctxs_slot *s = slot; !cleared && s->parent != NULL;) {
        s = s->parent;
        layers[n++] = slot_layer(s, &cleared);
        if (s->parent == NULL) top_is_plain = cleared = true;
    }
    /* A plain slot's map has no tombstones and is taken whole; a cleared
     * layer is applied onto the empty map, which drops its tombstones. */
    ctxs_map *result;
    size_t next;
    if (top_is_plain) {
        result = ctxs_map_fork(layers[n - 1]);
        next = n - 1;
    } else {
        result = ctxs_map_new(slot->store);
        next = n;
    }
    int status = CTXS_OK;
    while (next-- > 0 && status == CTXS_OK) status = apply_layer(&result, layers[next]);
    for (size_t i = 0; i < n; i++) ctxs_map_release(layers[i]);
    if (layers != small) ctxs_mfree(slot->store, layers, capacity * sizeof *layers);
    if (status != CTXS_OK) {
        ctxs_map_release(result);
        return status;
    }
    *out = result;
    return CTXS_OK;
}
