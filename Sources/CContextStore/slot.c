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
 *
 * Reads in a chained slot cost the same at any depth: a chained slot keeps a
 * view, its merged contents (its layers applied over the nearest plain
 * ancestor), tagged with the generation of its lineage. Every write in the
 * chain tree bumps that generation, so a read compares two numbers and, if
 * they agree, looks the key up in the view under one lock. While the view
 * is stale, reads walk the layers as before and add up the levels they
 * walked; once that work reaches what the last rebuild cost, the next read
 * rebuilds the view. Rebuilds therefore never cost more than the walks they
 * replace (so a chain written as often as it is read still reads in
 * O(depth)), and a chain read more often than written reads in O(1).
 * (aiotask-context's ChainMap walks every level on every read.)
 *
 * Untouched slots: a plain slot that has not been written since it was
 * made (or reset) still holds the map it started from, `base`, and nothing
 * can change or free that map while the slot lives. A snapshot of such a
 * slot (the fork a copy scope starts from) therefore takes no lock, and a
 * nested scope may borrow `base` outright (ctxs_slot_borrow_base). The
 * first write marks the slot touched, never writes `base` in place (it is
 * treated as shared), and keeps it, unreleased, until the slot is released
 * or recycled: a snapshot that saw the slot untouched may still be forking
 * it.
 *
 * Pending writes: a plain slot with no chained child keeps its first
 * CTXS_SLOT_PENDING new keys (keys its map does not hold) in the slot
 * itself, each value retained, instead of writing them into its map. A
 * request's scope writes a few keys into a fresh copy of a shared map, and
 * a child task's scope one more: kept pending, those writes copy no path
 * and allocate nothing, and the scope's end frees no node. (Ratios, the
 * request of Benchmarks/Sources/Workloads/Request.swift ÷ the same with a
 * struct in a @TaskLocal, 3 interleaved passes: 1.07-1.18 before, 0.97 with
 * them.) A read looks at the pending keys before the map; a copy
 * (ctxs_slot_copy) takes them along; a snapshot, and a slot's first chained
 * child, move them into the map first (flush_locked). A write of a key the
 * map holds goes to the map, so that the value it replaces is released at
 * once; so does a new key once the entries are full.
 *
 * Invariants:
 *  - Pending keys are distinct and never in the slot's map; a slot with a
 *    parent or a lineage has none. Pending entries make the slot touched.
 *  - A slot's map is never NULL, except in a recycled slot (between
 *    ctxs_slot_recycle and ctxs_slot_reset), which nothing reads.
 *  - A plain slot's `base` is set when it is made or reset and changes at
 *    no other time. While `touched` is false, map == base, holding one
 *    reference between them, and no write has been made; once `touched`
 *    is true, base holds a reference of its own. A chained slot has no
 *    base and is touched from the start.
 *  - A borrowed base (ctxs_slot_reset_borrowed) holds no reference: the
 *    caller keeps it alive until it calls ctxs_slot_recycle or
 *    ctxs_slot_own_base. Untouched, the slot then holds no reference to
 *    map == base; touched, it holds one to map and none to base.
 *  - A map is released only by the writer that unpublished it, after the
 *    lock is dropped; readers hold the lock while they touch a leaf.
 *  - options.release never runs under a slot's lock; options.retain may
 *    (a read retains what it hands out before the lock is dropped).
 *  - A chained slot's view, when current (view_generation equals its
 *    lineage's generation), equals the merge of its layers. A plain slot
 *    has no view, and its chained-only fields (cleared, view_generation,
 *    rebuild_cost, stale_work) stay zero.
 *
 * Lock order: a thread holds at most one slot lock at a time, and may take
 * an arena pool lock inside it; the pools never take a slot lock.
 */
#include "slot.h"

#include "CContextStoreSPI.h"

#include <stddef.h>
#include <string.h>

_Static_assert(offsetof(ctxs_slot, lock) == CTXS_SLOT_LOCK_OFFSET &&
                   offsetof(ctxs_lock, held) == 0 && sizeof(((ctxs_lock *)0)->held) == sizeof(int),
               "ctxs_slot_read_end_inline (CContextStoreSPI.h) releases a slot's lock there");

/* Counts values entering (delta > 0) or leaving slots' pending entries. */
static inline void pending_count(ctxs_heap *heap, int64_t delta) {
    atomic_fetch_add_explicit(&heap->pending, delta, memory_order_relaxed);
}

/* Releases the pending values moved out of a slot (after its lock). */
static void values_release(ctxs_heap *heap, void **values, uint32_t n) {
    if (n == 0) return;
    pending_count(heap, -(int64_t)n);
    for (uint32_t i = 0; i < n; i++) ctxs_value_release(heap, values[i]);
}

/* Moves the slot's pending values into `values` and empties its entries
 * (under its lock, or by its only holder). Returns how many it moved; they
 * are the caller's to release (values_release) once no lock is held. */
static inline uint32_t pending_take(ctxs_slot *slot, void *values[CTXS_SLOT_PENDING]) {
    uint32_t n = slot->pending;
    memcpy(values, slot->pending_values, n * sizeof(void *));
    slot->pending = 0;
    return n;
}

static void lineage_release(ctxs_heap *heap, ctxs_lineage *lineage) {
    if (lineage == NULL) return;
    if (atomic_fetch_sub_explicit(&lineage->refs, 1, memory_order_acq_rel) == 1) {
        ctxs_free(heap, lineage, sizeof *lineage, CTXS_KIND_OTHER);
    }
}

/* The references a plain slot (or chained, base NULL) holds to its map and
 * base, to release when it ends: see the invariants. Called by the slot's
 * only holder. */
static inline void slot_holdings(ctxs_slot *slot, ctxs_map **map, ctxs_map **base) {
    bool touched = atomic_load_explicit(&slot->touched, memory_order_relaxed);
    bool borrowed = atomic_load_explicit(&slot->borrowed, memory_order_relaxed);
    *map = touched || !borrowed ? slot->map : NULL;
    *base = touched && !borrowed ? atomic_load_explicit(&slot->base, memory_order_relaxed) : NULL;
}

/* What a change to a slot's pending entries leaves to release once the
 * lock is dropped (flushed_release): pending values dropped (clear,
 * replace), or, after a flush, the map it replaced and what its in-place
 * inserts unlinked. */
typedef struct flushed {
    void *values[CTXS_SLOT_PENDING];
    uint32_t count;
    ctxs_map *unpublished;
    ctxs_displaced displaced[CTXS_SLOT_PENDING];
} flushed;
static int flush_locked(ctxs_slot *slot, flushed *out);
static void flushed_release(ctxs_slot *slot, flushed *f);

/* Makes a slot holding `owned` (+1, taken over only on success; NULL: the
 * empty map). */
static ctxs_slot *slot_make(ctxs_heap *heap, ctxs_map *owned, ctxs_slot *parent) {
    /* A chained slot joins its parent's lineage, made now if the parent has
     * none. Allocate everything before touching the parent. */
    ctxs_lineage *fresh = NULL;
    if (parent != NULL) {
        ctxs_lock_acquire(&parent->lock);
        bool has = parent->lineage != NULL;
        ctxs_lock_release(&parent->lock);
        if (!has) {
            fresh = ctxs_alloc(heap, sizeof *fresh, CTXS_KIND_OTHER);
            if (fresh == NULL) return NULL;
            atomic_init(&fresh->refs, 1);
            atomic_init(&fresh->generation, 1);
        }
    }
    ctxs_slot *slot = ctxs_alloc(heap, sizeof *slot, CTXS_KIND_SLOT);
    if (slot == NULL) {
        if (fresh != NULL) ctxs_free(heap, fresh, sizeof *fresh, CTXS_KIND_OTHER);
        return NULL;
    }
    atomic_init(&slot->refs, 1);
    atomic_init(&slot->lock.held, 0);
    slot->cleared = false;
    slot->memo = NULL;
    slot->view = NULL;
    slot->view_generation = 0;
    /* Until a first rebuild is measured, assume it costs what merging one
     * entry per layer does (see merge): a fresh slot read only a few times
     * then walks its chain instead of merging all of it on its first read,
     * which made reading each level of a deep chain once quadratic in
     * merged entries. */
    slot->rebuild_cost = parent != NULL ? 16 * (parent->depth + 1) : 0;
    atomic_init(&slot->stale_work, 0);
    slot->lineage = NULL;
    slot->pending = 0;
    slot->map = owned != NULL ? owned : ctxs_map_empty(heap);
    atomic_init(&slot->base, parent != NULL ? NULL : slot->map);
    atomic_init(&slot->touched, parent != NULL);
    atomic_init(&slot->borrowed, false);
    slot->parent = parent != NULL ? ctxs_slot_retain(parent) : NULL;
    slot->heap = heap;
    slot->depth = parent != NULL ? parent->depth + 1 : 0;
    if (parent != NULL) {
        ctxs_lock_acquire(&parent->lock);
        /* A slot with chained children keeps nothing pending (their reads
         * walk its map). */
        flushed f;
        if (flush_locked(parent, &f) != CTXS_OK) {
            ctxs_lock_release(&parent->lock);
            ctxs_map_release(slot->map);
            ctxs_free(heap, slot, sizeof *slot, CTXS_KIND_SLOT);
            if (fresh != NULL) ctxs_free(heap, fresh, sizeof *fresh, CTXS_KIND_OTHER);
            ctxs_slot_release(parent);
            return NULL;
        }
        if (parent->lineage == NULL) {
            parent->lineage = fresh; /* the parent's reference */
            fresh = NULL;
        }
        slot->lineage = parent->lineage;
        atomic_fetch_add_explicit(&slot->lineage->refs, 1, memory_order_relaxed);
        ctxs_lock_release(&parent->lock);
        flushed_release(parent, &f);
        if (fresh != NULL) ctxs_free(heap, fresh, sizeof *fresh, CTXS_KIND_OTHER); /* lost a race */
    }
    return slot;
}

ctxs_slot *ctxs_slot_create_in(ctxs_heap *heap, ctxs_map *initial, ctxs_slot *parent) {
    if (parent != NULL && (initial != NULL || parent->heap != heap)) return NULL;
    if (initial != NULL && initial->heap != heap) return NULL;
    ctxs_map *owned = initial != NULL ? ctxs_map_fork(initial) : NULL;
    ctxs_slot *slot = slot_make(heap, owned, parent);
    if (slot == NULL) ctxs_map_release(owned); /* `initial` itself stays alive */
    return slot;
}

ctxs_slot *ctxs_slot_adopt_in(ctxs_heap *heap, ctxs_map *map) {
    if (map == NULL || map->heap != heap) return NULL;
    return slot_make(heap, map, NULL);
}

ctxs_slot *ctxs_slot_retain(ctxs_slot *slot) {
    atomic_fetch_add_explicit(&slot->refs, 1, memory_order_relaxed);
    return slot;
}

/* Iterative, so releasing the last of 10,000 chained slots does not recurse.
 * A count of 1 read by a holder is final: only holders add references (a
 * slot is never reachable from a shared place without one), so the sole
 * holder skips the locked decrement. The acquire load pairs with the
 * release half of every other holder's decrement, as the RMW would.
 * (perf, `Task(inheriting: .copy)`: the child's scope ends with its slot's
 * last release, and that decrement was about 6 ns of its teardown.) */
void ctxs_slot_release(ctxs_slot *slot) {
    while (slot != NULL) {
        if (atomic_load_explicit(&slot->refs, memory_order_acquire) != 1 &&
            atomic_fetch_sub_explicit(&slot->refs, 1, memory_order_acq_rel) != 1) {
            return;
        }
        ctxs_slot *parent = slot->parent;
        ctxs_map *map, *base, *view = slot->view;
        slot_holdings(slot, &map, &base);
        ctxs_lineage *lineage = slot->lineage;
        void *memo = slot->memo;
        ctxs_heap *heap = slot->heap;
        void *pending[CTXS_SLOT_PENDING];
        uint32_t npending = pending_take(slot, pending);
        ctxs_free(heap, slot, sizeof *slot, CTXS_KIND_SLOT);
        values_release(heap, pending, npending);
        if (map != NULL) ctxs_map_release(map);
        if (base != NULL) ctxs_map_release(base);
        ctxs_map_release(view);
        lineage_release(heap, lineage);
        ctxs_value_release(heap, memo);
        slot = parent;
    }
}

int ctxs_slot_recycle(ctxs_slot *slot) {
    /* The caller learnt that it is the only holder from a load (the C
     * refcount below, or the Swift layer's uniqueness check of its scope
     * object, a relaxed load on arm64) that read another holder's release
     * decrement; the fence makes everything that holder did before it,
     * its critical sections included, happen before what follows. It costs
     * no instruction on x86. Nobody can take the lock again now, so no
     * locked exchange is needed either: the acquire load of the lock word
     * below says the same to ThreadSanitizer, which does not see the Swift
     * runtime's atomics. */
    atomic_thread_fence(memory_order_acquire);
    if (slot->parent != NULL) return 0;
    if (atomic_load_explicit(&slot->refs, memory_order_acquire) != 1) return 0;
    /* Held: the caller broke the contract (a read not ended). No change. */
    if (atomic_load_explicit(&slot->lock.held, memory_order_acquire) != 0) return 0;
    if (slot->map == NULL) return 0;
    /* A plain slot has no view, and its chained-only fields (cleared, the
     * view's generation and costs) are never set: only map, base, the two
     * flags, memo and lineage need resetting. */
    ctxs_map *map, *base;
    slot_holdings(slot, &map, &base);
    ctxs_lineage *lineage = slot->lineage;
    void *memo = slot->memo;
    void *pending[CTXS_SLOT_PENDING];
    uint32_t npending = pending_take(slot, pending);
    slot->map = NULL;
    atomic_store_explicit(&slot->base, NULL, memory_order_relaxed);
    atomic_store_explicit(&slot->borrowed, false, memory_order_relaxed);
    atomic_store_explicit(&slot->touched, false, memory_order_relaxed);
    /* Usually none of these: an unwritten scope over a borrowed map. */
    if (CTXS_UNLIKELY(memo != NULL || lineage != NULL)) {
        slot->memo = NULL;
        slot->lineage = NULL;
        lineage_release(slot->heap, lineage);
        ctxs_value_release(slot->heap, memo);
    }
    if (map != NULL) ctxs_map_release(map);
    if (base != NULL) ctxs_map_release(base);
    values_release(slot->heap, pending, npending);
    return 1;
}

int ctxs_slot_reset(ctxs_slot *slot, ctxs_map *map) {
    return ctxs_slot_reset_inline(slot, map, false);
}

int ctxs_slot_reset_borrowed(ctxs_slot *slot, ctxs_map *map) {
    return ctxs_slot_reset_inline(slot, map, true);
}

int ctxs_slot_borrow_base(ctxs_slot *slot, ctxs_map **base) {
    return ctxs_slot_borrow_base_inline(slot, base);
}

void ctxs_slot_own_base(ctxs_slot *slot) {
    ctxs_lock_acquire(&slot->lock);
    if (atomic_load_explicit(&slot->borrowed, memory_order_relaxed)) {
        ctxs_map_fork(atomic_load_explicit(&slot->base, memory_order_relaxed));
        atomic_store_explicit(&slot->borrowed, false, memory_order_relaxed);
    }
    ctxs_lock_release(&slot->lock);
}

ctxs_slot *ctxs_slot_parent(const ctxs_slot *slot) { return slot->parent; }

size_t ctxs_slot_depth(const ctxs_slot *slot) { return slot->depth; }

/* A chained slot's view if it is current; the slot's lock is held. */
static inline ctxs_map *current_view(ctxs_slot *slot) {
    if (slot->view == NULL) return NULL;
    uint64_t now = atomic_load_explicit(&slot->lineage->generation, memory_order_acquire);
    return slot->view_generation == now ? slot->view : NULL;
}

static int merge(ctxs_slot *slot, ctxs_map **out, size_t *work);

/* Rebuilds a chained slot's view and stores in *generation the lineage
 * generation it reflects. The generation is read before merging, so a
 * write during the merge leaves the view tagged older than that write and
 * the next read rebuilds it. A view is only ever replaced by a newer one. */
static int refresh_view(ctxs_slot *slot, uint64_t *generation) {
    uint64_t g = atomic_load_explicit(&slot->lineage->generation, memory_order_acquire);
    ctxs_map *merged;
    size_t work;
    int status = merge(slot, &merged, &work);
    if (status != CTXS_OK) return status;
    ctxs_lock_acquire(&slot->lock);
    slot->rebuild_cost = work;
    atomic_store_explicit(&slot->stale_work, 0, memory_order_relaxed);
    ctxs_map *old = merged;
    if (slot->view == NULL || slot->view_generation < g) {
        old = slot->view;
        slot->view = merged;
        slot->view_generation = g;
    }
    ctxs_lock_release(&slot->lock);
    ctxs_map_release(old);
    *generation = g;
    return CTXS_OK;
}

/* plain_lookup once the slot's lock is held: the leaf (never a tombstone)
 * with the lock kept and *held = slot, or NULL with the lock released. */
CTXS_INLINE void *plain_lookup_locked(ctxs_slot *slot, uint64_t key, ctxs_slot **held) {
    *held = slot;
    for (uint32_t i = 0; i < slot->pending; i++) {
        if (slot->pending_keys[i] == key) return slot->pending_values[i];
    }
    const ctxs_leaf *leaf = ctxs_find_leaf_inline(slot->map, key);
    if (leaf == NULL || leaf->value == NULL) {
        ctxs_lock_release(&slot->lock);
        return NULL;
    }
    return leaf->value;
}

/* The read of a plain slot, written once: finds `key` under the slot's
 * lock. Returns the leaf with the lock still held (*held = slot), or NULL
 * (absent, or a tombstone, which a C caller may put in a plain slot with
 * ctxs_slot_replace) with the lock released.
 *
 * An untouched slot's map could be walked without the lock (it cannot
 * change or be freed while the slot lives), and a version of this read did
 * so. It was not kept: in the Swift layer a task that shares a scope
 * reaches the slot through Swift's reference counts, whose ordering
 * ThreadSanitizer cannot see, so the walk and the slot's later recycle
 * (which frees the nodes) would be reported as a race in a user's TSan
 * build; and the lock, uncontended, cost no measurable time (Ratios, typed
 * get ÷ @TaskLocal read: 0.93 either way). Snapshots do go without it: they
 * touch only the map's atomic count. */
CTXS_INLINE void *plain_lookup(ctxs_slot *slot, uint64_t key, ctxs_slot **held) {
    ctxs_lock_acquire(&slot->lock);
    return plain_lookup_locked(slot, key, held);
}

/* Finds `key` in a chained slot and leaves the lock of the slot whose map
 * or view holds the leaf taken (in *held). Returns the leaf (never a
 * tombstone) or NULL with no lock held. */
CTXS_HOT static const ctxs_leaf *chained_lookup(ctxs_slot *slot, uint64_t key, ctxs_slot **held) {
    uint64_t fresh = UINT64_MAX; /* after a refresh: a view this new reflects every write
                                    before the call */
    for (int attempt = 0; attempt < 2; attempt++) {
        ctxs_lock_acquire(&slot->lock);
        ctxs_map *view = current_view(slot);
        if (view == NULL && slot->view != NULL && slot->view_generation >= fresh) view = slot->view;
        if (view != NULL) {
            const ctxs_leaf *leaf = ctxs_find_leaf_inline(view, key);
            if (leaf != NULL) {
                *held = slot;
                return leaf;
            }
            ctxs_lock_release(&slot->lock);
            return NULL;
        }
        bool rebuild =
            attempt == 0 &&
            atomic_load_explicit(&slot->stale_work, memory_order_relaxed) >= slot->rebuild_cost;
        ctxs_lock_release(&slot->lock);
        if (!rebuild || refresh_view(slot, &fresh) != CTXS_OK) break;
    }
    /* Walk the layers: no allocation, O(depth). */
    size_t walked = 0;
    const ctxs_leaf *found = NULL;
    for (ctxs_slot *s = slot; s != NULL; s = s->parent) {
        walked++;
        ctxs_lock_acquire(&s->lock);
        const ctxs_leaf *leaf = ctxs_find_leaf_inline(s->map, key);
        if (leaf != NULL && leaf->value != NULL) {
            *held = s;
            found = leaf;
            break;
        }
        bool stop = leaf != NULL || s->cleared; /* a tombstone, or a cleared layer */
        ctxs_lock_release(&s->lock);
        if (stop) break;
    }
    atomic_fetch_add_explicit(&slot->stale_work, walked, memory_order_relaxed);
    return found;
}

/* Finds `key` in `slot` (through its chain) and leaves the lock of the slot
 * that holds the leaf taken (in *held; NULL when no lock was needed).
 * Returns the leaf (never a tombstone) or NULL with no lock held. */
CTXS_INLINE void *locked_lookup(ctxs_slot *slot, uint64_t key, ctxs_slot **held) {
    if (CTXS_LIKELY(slot->parent == NULL)) return plain_lookup(slot, key, held);
    const ctxs_leaf *leaf = chained_lookup(slot, key, held);
    return leaf != NULL ? leaf->value : NULL;
}

CTXS_HOT int ctxs_slot_find(ctxs_slot *slot, uint64_t key, void **value) {
    ctxs_slot *held;
    void *found = locked_lookup(slot, key, &held);
    if (found == NULL) return 0;
    /* Retained under the lock: once it is dropped a writer may free the
     * leaf. retain callbacks must not re-enter the store. */
    if (value != NULL) {
        ctxs_value_retain(slot->heap, found);
        *value = found;
    }
    ctxs_slot_read_end_inline(held);
    return 1;
}

/* The end of ctxs_slot_read_begin: the leaf's value, borrowed, or 0. */
CTXS_INLINE int read_begin_result(void *found, void **value) {
    if (found == NULL) return 0;
    *value = found; /* *held stays locked until ctxs_slot_read_end */
    return 1;
}

/* The two cases of ctxs_slot_read_begin that need a stack frame, out of
 * line. Not clones (target_clones excludes noinline): the contended read
 * counts bits without POPCNT, which only a thread that waited pays. */
__attribute__((noinline, cold)) static int read_begin_contended(ctxs_slot *slot, uint64_t key,
                                                                void **value, ctxs_slot **held) {
    ctxs_lock_wait(&slot->lock);
    return read_begin_result(plain_lookup_locked(slot, key, held), value);
}

__attribute__((noinline)) static int read_begin_chained(ctxs_slot *slot, uint64_t key, void **value,
                                                        ctxs_slot **held) {
    const ctxs_leaf *leaf = chained_lookup(slot, key, held);
    return read_begin_result(leaf != NULL ? leaf->value : NULL, value);
}

/* Every read of a typed key comes here. The cases that need a stack
 * frame (a chained slot, a contended lock) are tail calls, so that the
 * common one, a plain slot's free lock, saves no register (callgrind, a
 * typed read: 196 -> 187 instructions). */
CTXS_HOT int ctxs_slot_read_begin(ctxs_slot *slot, uint64_t key, void **value, ctxs_slot **held) {
    if (CTXS_UNLIKELY(slot->parent != NULL)) return read_begin_chained(slot, key, value, held);
    if (CTXS_UNLIKELY(!ctxs_lock_try(&slot->lock)))
        return read_begin_contended(slot, key, value, held);
    return read_begin_result(plain_lookup_locked(slot, key, held), value);
}

void ctxs_slot_read_end(ctxs_slot *held) { ctxs_slot_read_end_inline(held); }

int ctxs_slot_memo_get(ctxs_slot *slot, void **memo) {
    ctxs_lock_acquire(&slot->lock);
    void *m = slot->memo;
    if (m != NULL) ctxs_value_retain(slot->heap, m);
    ctxs_lock_release(&slot->lock);
    if (m == NULL) return 0;
    *memo = m;
    return 1;
}

int ctxs_slot_memo_set(ctxs_slot *slot, const ctxs_map *map, void *memo) {
    if (slot->parent != NULL || memo == NULL) return 0;
    int stored = 0;
    ctxs_lock_acquire(&slot->lock);
    if (slot->memo == NULL && slot->map == map && slot->pending == 0) {
        ctxs_value_retain(slot->heap, memo);
        slot->memo = memo;
        stored = 1;
    }
    ctxs_lock_release(&slot->lock);
    return stored;
}

int ctxs_slot_memo_replace(ctxs_slot *slot, void *expected, void *memo) {
    if (expected == NULL || memo == NULL) return 0;
    int replaced = 0;
    ctxs_lock_acquire(&slot->lock);
    /* The memo is still `expected` only if no write came since it was
     * set (every write drops it), so `memo` describes the contents too. */
    if (slot->memo == expected) {
        ctxs_value_retain(slot->heap, memo);
        slot->memo = memo;
        replaced = 1;
    }
    ctxs_lock_release(&slot->lock);
    if (replaced) ctxs_value_release(slot->heap, expected);
    return replaced;
}

/* What a write leaves to release once the lock is dropped. */
typedef struct stale {
    void *memo;
    ctxs_map *view;
} stale;

/* Called under the lock after the contents changed: the memo and the view
 * no longer describe them, and the lineage learns of the change. */
static inline stale changed(ctxs_slot *slot) {
    stale old = {slot->memo, slot->view};
    slot->memo = NULL;
    slot->view = NULL;
    if (slot->lineage != NULL) {
        atomic_fetch_add_explicit(&slot->lineage->generation, 1, memory_order_release);
    }
    return old;
}

static inline void release_stale(ctxs_slot *slot, stale old) {
    if (old.view != NULL) ctxs_map_release(old.view); /* usually none: skip the call */
    ctxs_value_release(slot->heap, old.memo);
}

/* Called under the lock by a write that replaced the slot's map `old`:
 * marks the slot touched and returns the map to release once the lock is
 * dropped, which is none when `old` is the untouched slot's base (the slot
 * keeps it: a reader may be walking it). */
static inline ctxs_map *unpublish(ctxs_slot *slot, ctxs_map *old) {
    if (atomic_load_explicit(&slot->touched, memory_order_relaxed)) return old;
    atomic_store_explicit(&slot->touched, true, memory_order_release);
    return NULL;
}

/* Moves the pending entries into the slot's map, under the lock: one
 * persistent insert, then inserts in place into the map it made. Each
 * pending reference moves into its leaf. On failure nothing changes. What
 * to release after the lock is left in *out (flushed_release). */
static int flush_locked(ctxs_slot *slot, flushed *out) {
    out->count = 0;
    out->unpublished = NULL;
    memset(out->displaced, 0, sizeof out->displaced);
    uint32_t n = slot->pending;
    if (n == 0) return CTXS_OK;
    /* Each pending reference moves into a leaf (no callback runs). The
     * leaves are made first and held here until the map is built, so that a
     * failure can free them and leave every reference where it was. */
    ctxs_leaf *leaves[CTXS_SLOT_PENDING];
    ctxs_map *old = slot->map, *built = NULL;
    int status = CTXS_OK;
    uint32_t made = 0;
    for (; made < n; made++) {
        leaves[made] =
            ctxs_leaf_adopting(slot->heap, slot->pending_keys[made], slot->pending_values[made]);
        if (leaves[made] == NULL) {
            status = CTXS_ENOMEM;
            break;
        }
    }
    /* The first insert makes a new map, which only this flush holds: the
     * others go into it in place (a root made by an insert into the empty
     * map has room for four). */
    for (uint32_t i = 0; i < n && status == CTXS_OK; i++) {
        if (built == NULL) {
            status = ctxs_map_assoc_leaf(old, leaves[i], &built);
        } else {
            status = ctxs_map_assoc_leaf_exclusive(built, leaves[i], &out->displaced[i]);
        }
    }
    if (status != CTXS_OK) {
        /* Only nodes go: the leaves keep the references held here. */
        for (uint32_t i = 0; i < n; i++) ctxs_displaced_release(slot->heap, &out->displaced[i]);
        ctxs_map_release(built);
        for (uint32_t i = 0; i < made; i++) ctxs_leaf_unmake(slot->heap, leaves[i]);
        return status;
    }
    for (uint32_t i = 0; i < n; i++) ctxs_leaf_drop(slot->heap, leaves[i]); /* `built` holds them */
    pending_count(slot->heap, -(int64_t)n); /* counted as leaves now */
    out->unpublished = unpublish(slot, old);
    slot->map = built;
    slot->pending = 0;
    return CTXS_OK;
}

/* Empties the pending entries under the lock, for clear and replace. */
static inline flushed pending_drop_locked(ctxs_slot *slot) {
    flushed dropped = {.count = 0};
    dropped.count = pending_take(slot, dropped.values);
    return dropped;
}

static void flushed_release(ctxs_slot *slot, flushed *f) {
    if (f->unpublished != NULL) ctxs_map_release(f->unpublished);
    for (uint32_t i = 0; i < CTXS_SLOT_PENDING; i++) {
        if (f->displaced[i].leaf != NULL || f->displaced[i].node != NULL)
            ctxs_displaced_release(slot->heap, &f->displaced[i]);
    }
    values_release(slot->heap, f->values, f->count);
}

/* A write kept pending, under the lock: a key already pending takes the
 * new value; another key takes a free entry. Returns false (nothing done)
 * when the slot cannot keep it: a chained slot, a slot with chained
 * children, a key its map holds, or no free entry. *replaced is the value
 * to release after the lock. */
CTXS_INLINE bool pending_write_locked(ctxs_slot *slot, uint64_t key, void *value, void **replaced) {
    *replaced = NULL;
    if (slot->parent != NULL || slot->lineage != NULL) return false;
    uint32_t n = slot->pending;
    for (uint32_t i = 0; i < n; i++) {
        if (slot->pending_keys[i] == key) {
            *replaced = slot->pending_values[i];
            slot->pending_values[i] = value;
            ctxs_value_retain(slot->heap, value);
            return true;
        }
    }
    if (n == CTXS_SLOT_PENDING || ctxs_find_leaf_inline(slot->map, key) != NULL) return false;
    if (!atomic_load_explicit(&slot->touched, memory_order_relaxed)) {
        /* Touched, map and base each hold a reference (see the invariants). */
        ctxs_map_fork(slot->map);
        atomic_store_explicit(&slot->touched, true, memory_order_release);
    }
    slot->pending_keys[n] = key;
    slot->pending_values[n] = value;
    slot->pending = n + 1;
    ctxs_value_retain(slot->heap, value);
    pending_count(slot->heap, 1);
    return true;
}

/* Applies one write to the slot's map under the lock. A map only the slot
 * holds is written in place; a shared one (a snapshot or a fork holds it
 * too, or it is an untouched slot's base) is replaced by a new version, and
 * the old one released afterwards (see unpublish). */
static int slot_update(ctxs_slot *slot, uint64_t key, void *value, bool remove) {
    ctxs_displaced displaced = {NULL, NULL};
    ctxs_map *next = NULL, *unpublished = NULL;
    ctxs_lock_acquire(&slot->lock);
    if (!remove) {
        void *replaced;
        if (pending_write_locked(slot, key, value, &replaced)) {
            stale old_state = changed(slot);
            ctxs_lock_release(&slot->lock);
            if (replaced != NULL) ctxs_value_release(slot->heap, replaced);
            release_stale(slot, old_state);
            return CTXS_OK;
        }
    } else if (slot->pending > 0) {
        for (uint32_t i = 0; i < slot->pending; i++) {
            if (slot->pending_keys[i] != key) continue;
            void *dropped = slot->pending_values[i];
            uint32_t last = --slot->pending;
            slot->pending_keys[i] = slot->pending_keys[last];
            slot->pending_values[i] = slot->pending_values[last];
            stale old_state = changed(slot);
            ctxs_lock_release(&slot->lock);
            values_release(slot->heap, &dropped, 1);
            release_stale(slot, old_state);
            return CTXS_OK;
        }
        /* Not pending: a key in the map (pending keys never are). */
    }
    ctxs_map *old = slot->map;
    bool exclusive = atomic_load_explicit(&slot->touched, memory_order_relaxed) && !old->immortal &&
                     atomic_load_explicit(&old->refs, memory_order_acquire) == 1;
    bool tombstone = remove && slot->parent != NULL && !slot->cleared; /* hides the inherited key */
    int status;
    if (exclusive) {
        status = remove && !tombstone
                     ? ctxs_map_without_exclusive(old, key, &displaced)
                     : ctxs_map_assoc_exclusive(old, key, remove ? NULL : value, &displaced);
    } else {
        status = remove && !tombstone ? ctxs_map_without(old, key, &next)
                                      : ctxs_map_assoc_any(old, key, remove ? NULL : value, &next);
        if (status == CTXS_OK) slot->map = next;
    }
    stale old_state = {NULL, NULL};
    if (status == CTXS_OK) {
        old_state = changed(slot);
        if (!exclusive) unpublished = unpublish(slot, old);
    }
    ctxs_lock_release(&slot->lock);
    if (unpublished != NULL) ctxs_map_release(unpublished);
    /* An insert in place displaces nothing: skip the call (callgrind, a
     * request's scope and its four writes: 3,305 -> 3,221 instructions). */
    if (displaced.leaf != NULL || displaced.node != NULL)
        ctxs_displaced_release(slot->heap, &displaced);
    release_stale(slot, old_state);
    return status;
}

int ctxs_slot_assoc(ctxs_slot *slot, uint64_t key, void *value) {
    if (value == NULL) return CTXS_EINVAL;
    return slot_update(slot, key, value, false);
}

int ctxs_slot_without(ctxs_slot *slot, uint64_t key) { return slot_update(slot, key, NULL, true); }

int ctxs_slot_clear(ctxs_slot *slot) {
    ctxs_map *empty = ctxs_map_empty(slot->heap);
    ctxs_lock_acquire(&slot->lock);
    flushed dropped = pending_drop_locked(slot);
    ctxs_map *old = slot->map;
    slot->map = empty;
    if (slot->parent != NULL) slot->cleared = true;
    stale old_state = changed(slot);
    ctxs_map *unpublished = unpublish(slot, old);
    ctxs_lock_release(&slot->lock);
    if (unpublished != NULL) ctxs_map_release(unpublished);
    flushed_release(slot, &dropped);
    release_stale(slot, old_state);
    return CTXS_OK;
}

int ctxs_slot_replace(ctxs_slot *slot, ctxs_map *map) {
    if (map->heap != slot->heap) return CTXS_EINVAL;
    ctxs_map *mine = ctxs_map_fork(map);
    ctxs_lock_acquire(&slot->lock);
    flushed dropped = pending_drop_locked(slot);
    ctxs_map *old = slot->map;
    slot->map = mine;
    if (slot->parent != NULL) slot->cleared = true;
    stale old_state = changed(slot);
    ctxs_map *unpublished = unpublish(slot, old);
    ctxs_lock_release(&slot->lock);
    if (unpublished != NULL) ctxs_map_release(unpublished);
    flushed_release(slot, &dropped);
    release_stale(slot, old_state);
    return CTXS_OK;
}

/* Reads one slot's layer and flag consistently; with allow_view, for a
 * chained slot whose view is current, returns the view instead (*is_view). */
static ctxs_map *slot_layer(ctxs_slot *slot, bool allow_view, bool *cleared, bool *is_view) {
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *view = allow_view && slot->parent != NULL ? current_view(slot) : NULL;
    *is_view = view != NULL;
    ctxs_map *layer = ctxs_map_fork(view != NULL ? view : slot->map);
    *cleared = slot->cleared;
    ctxs_lock_release(&slot->lock);
    return layer;
}

/* Applies a layer's entries (tombstones as removals) onto *base, replacing
 * *base with the result. On error *base is unchanged. */
static int apply_layer(ctxs_map **base, const ctxs_map *layer) {
    ctxs_map_iter iter;
    ctxs_map_iter_init(&iter, layer);
    const ctxs_leaf *leaf;
    ctxs_map *current = ctxs_map_fork(*base);
    while ((leaf = ctxs_map_iter_next_leaf(&iter)) != NULL) {
        ctxs_map *next;
        int status = leaf->value != NULL ? ctxs_map_assoc_leaf(current, leaf, &next)
                                         : ctxs_map_without(current, leaf->key, &next);
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

/* A chained slot's merged contents: its layers, applied top-down over the
 * nearest ancestor that stands alone (a plain slot, a cleared layer, or a
 * chained slot with a current view). Each slot is read under its own lock,
 * one at a time. The chain can be 10,000 deep, so a deep one is collected
 * in a heap array rather than by recursion. */
static int merge(ctxs_slot *slot, ctxs_map **out, size_t *work) {
    ctxs_map *small[16];
    size_t capacity = slot->depth + 1;
    ctxs_map **layers = small;
    if (capacity > 16) {
        layers = ctxs_malloc(slot->heap, capacity * sizeof *layers);
        if (layers == NULL) return CTXS_ENOMEM;
    }
    size_t n = 0;
    bool stop = false, whole = false; /* whole: layers[n-1] is a complete map */
    for (ctxs_slot *s = slot; !stop; s = s->parent) {
        bool cleared, is_view;
        ctxs_map *layer = slot_layer(s, s != slot, &cleared, &is_view);
        if (is_view) {
            layers[n++] = layer;
            whole = stop = true;
        } else {
            layers[n++] = layer;
            stop = cleared || s->parent == NULL;
            whole = s->parent == NULL;
        }
    }
    /* A complete map is taken whole; a cleared layer is applied onto the
     * empty map, which drops its tombstones. */
    ctxs_map *result;
    size_t next;
    if (whole) {
        result = ctxs_map_fork(layers[n - 1]);
        next = n - 1;
    } else {
        result = ctxs_map_empty(slot->heap);
        next = n;
    }
    int status = CTXS_OK;
    *work = n;
    while (next-- > 0 && status == CTXS_OK) {
        /* One applied entry (a persistent insert) costs about what 16
         * walked levels (a lock and a lookup each) do. */
        *work += 16 * ctxs_map_count(layers[next]);
        status = apply_layer(&result, layers[next]);
    }
    for (size_t i = 0; i < n; i++) ctxs_map_release(layers[i]);
    if (layers != small) ctxs_mfree(slot->heap, layers, capacity * sizeof *layers);
    if (status != CTXS_OK) {
        ctxs_map_release(result);
        return status;
    }
    *out = result;
    return CTXS_OK;
}

int ctxs_slot_snapshot(ctxs_slot *slot, ctxs_map **out) {
    if (slot->parent == NULL && !atomic_load_explicit(&slot->touched, memory_order_acquire)) {
        /* No lock: see "Untouched slots". */
        *out = ctxs_map_fork(atomic_load_explicit(&slot->base, memory_order_relaxed));
        return CTXS_OK;
    }
    if (slot->parent == NULL) {
        flushed f;
        ctxs_lock_acquire(&slot->lock);
        int status = flush_locked(slot, &f);
        ctxs_map *map = status == CTXS_OK ? ctxs_map_fork(slot->map) : NULL;
        ctxs_lock_release(&slot->lock);
        if (status != CTXS_OK) return status;
        flushed_release(slot, &f);
        *out = map; /* a plain slot's map: O(1) once flushed */
        return CTXS_OK;
    }
    bool cleared, is_view;
    ctxs_map *layer = slot_layer(slot, true, &cleared, &is_view);
    if (is_view) {
        *out = layer; /* a plain slot's map, or a current view: O(1) */
        return CTXS_OK;
    }
    ctxs_map_release(layer);
    uint64_t fresh;
    int status = refresh_view(slot, &fresh);
    if (status != CTXS_OK) return status;
    ctxs_lock_acquire(&slot->lock);
    ctxs_map *view = slot->view != NULL && slot->view_generation >= fresh ? slot->view : NULL;
    if (view != NULL) ctxs_map_fork(view);
    ctxs_lock_release(&slot->lock);
    size_t work;
    if (view == NULL) return merge(slot, out, &work); /* a write dropped it meanwhile */
    *out = view;
    return CTXS_OK;
}

ctxs_slot *ctxs_slot_copy_in(ctxs_heap *heap, ctxs_slot *from, ctxs_slot *recycled) {
    ctxs_map *map = NULL;
    uint64_t keys[CTXS_SLOT_PENDING];
    void *values[CTXS_SLOT_PENDING];
    uint32_t n = 0;
    if (from->parent != NULL || !atomic_load_explicit(&from->touched, memory_order_acquire)) {
        if (ctxs_slot_snapshot(from, &map) != CTXS_OK) return NULL;
    } else {
        ctxs_lock_acquire(&from->lock);
        map = ctxs_map_fork(from->map);
        n = from->pending;
        for (uint32_t i = 0; i < n; i++) {
            keys[i] = from->pending_keys[i];
            values[i] = from->pending_values[i];
            ctxs_value_retain(heap, values[i]);
        }
        ctxs_lock_release(&from->lock);
    }
    ctxs_slot *slot = recycled;
    if (slot != NULL) {
        if (ctxs_slot_reset_inline(slot, map, false) != CTXS_OK) slot = NULL;
    } else {
        slot = slot_make(heap, map, NULL);
    }
    if (slot == NULL) {
        ctxs_map_release(map);
        for (uint32_t i = 0; i < n; i++) ctxs_value_release(heap, values[i]); /* never counted */
        return NULL;
    }
    if (n > 0) {
        memcpy(slot->pending_keys, keys, n * sizeof keys[0]);
        memcpy(slot->pending_values, values, n * sizeof values[0]);
        slot->pending = n;
        pending_count(heap, n);
        ctxs_map_fork(map); /* touched: map and base each hold a reference */
        atomic_store_explicit(&slot->touched, true, memory_order_release);
    }
    return slot;
}
