/*
 * test_slots.c: plain slots: reads and writes against the model, borrowed reads
 * (read_begin / read_end), and the contracts of every slot function.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The model check again, through a slot: the slot writes its map in place
 * while nothing else holds it, and copies paths once a snapshot shares it.
 * Snapshots are taken, kept, dropped and restored at random so that writes
 * hit every mix of exclusive and shared levels. */
void test_slot_model(harness *h) {
    uint64_t universe[640];
    size_t un = model_universe(universe);
    tracker *pool[MODEL_POOL];
    for (size_t i = 0; i < MODEL_POOL; i++) pool[i] = tv_new(h, 2000000 + i);
    ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
    REQUIRE(slot != NULL);
    model cur_m = {0};
    ctxs_map *kept[MODEL_KEPT] = {0};
    model kept_m[MODEL_KEPT];
    memset(kept_m, 0, sizeof kept_m);
    rng r = {0x5EED0002};
    size_t snapshots = 0, hits = 0, max_count = 0;
    bool ok = true;
    long op;

    for (op = 0; op < MODEL_OPS && ok; op++) {
        uint64_t dice = rng_below(&r, 100);
        uint64_t key = model_pick(&r, universe, un);
        if (dice < 50) {
            tracker *value = pool[rng_below(&r, MODEL_POOL)];
            ok = CHECKF(ctxs_slot_assoc(slot, key, value) == CTXS_OK, "op %ld: slot assoc", op);
            model_set(&cur_m, key, value);
        } else if (dice < 80) {
            ok = CHECKF(ctxs_slot_without(slot, key) == CTXS_OK, "op %ld: slot without", op);
            if (model_del(&cur_m, key)) hits++;
        } else if (dice < 88) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            ok = kept_drop(kept, kept_m, i);
            ok = ok && CHECK(ctxs_slot_snapshot(slot, &kept[i]) == CTXS_OK);
            model_copy(&kept_m[i], &cur_m);
            snapshots++;
        } else if (dice < 97) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            ok = kept_drop(kept, kept_m, i);
        } else {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            if (kept[i] != NULL) {
                ok = CHECK(ctxs_slot_replace(slot, kept[i]) == CTXS_OK);
                model_copy(&cur_m, &kept_m[i]);
            }
        }
        if (!ok) break;
        if (cur_m.n > max_count) max_count = cur_m.n;
        uint64_t probe = model_pick(&r, universe, un);
        void *value = NULL;
        int found = ctxs_slot_find(slot, probe, &value);
        void *expected = model_get(&cur_m, probe);
        ok = CHECKF(found == (expected != NULL) && (found == 0 || value == expected),
                    "op %ld: slot find 0x%llx: %d %p, model %p", op, ull(probe), found, value,
                    expected);
        if (found) tv_put(h, value);
        if (ok && op % 512 == 0) {
            ctxs_map *now = NULL;
            ok = CHECK(ctxs_slot_snapshot(slot, &now) == CTXS_OK);
            ok = ok && CHECKF(ctxs_map_check(now) == 1, "op %ld: invariants", op) &&
                 MAP_EQUALS(now, &cur_m);
            ctxs_map *rebuilt = ok ? map_from_model(h, &cur_m) : NULL;
            ok = ok && CHECKF(ctxs_map_same_shape(now, rebuilt) == 1,
                              "op %ld: an in-place write left a non-canonical trie", op);
            ctxs_map_release(rebuilt);
            ctxs_map_release(now);
        }
    }
    if (!ok)
        printf("    (slot model check stopped at op %ld of %d)\n", op, MODEL_OPS);
    else
        CHECKF(max_count > 200 && snapshots > 1000 && hits > 10000,
               "the slot model check did not exercise enough: max %zu snapshots %zu hits %zu",
               max_count, snapshots, hits);
    ok = kept_release(ok, kept, kept_m, MODEL_KEPT);
    ctxs_slot_release(slot);
    model_free(&cur_m);
    pool_drop(pool, MODEL_POOL);
}

/* Borrowed reads and the memo. */
void test_slot_borrow(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *m1 = tv_new(h, 3), *m2 = tv_new(h, 4);
    tracker *m3 = tv_new(h, 5);
    ctxs_slot *parent = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(parent != NULL);
    ctxs_slot *child = ctxs_slot_create(s, NULL, parent);
    REQUIRE(child != NULL);
    CHECK_EQ(ctxs_slot_assoc(parent, 1, a), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(child, 2, b), CTXS_OK);
    long retains = atomic_load(&h->ledger.retains);

    void *v = NULL;
    ctxs_slot *held = NULL;
    CHECK_EQ(ctxs_slot_read_begin(child, 2, &v, &held), 1);
    CHECK(v == b && held == child);
    if (held != NULL) ctxs_slot_read_end(held);
    CHECK_EQ(ctxs_slot_read_begin(child, 1, &v, &held), 1); /* falls through to the parent */
    CHECK(v == a && held == parent); /* a fresh chained slot walks its chain at first */
    if (held != NULL) ctxs_slot_read_end(held);
    /* Once its walks have cost what a merge would, it reads its merged view. */
    for (int i = 0; i < 64 && held != child; i++) {
        held = NULL;
        if (!CHECK_EQ(ctxs_slot_read_begin(child, 1, &v, &held), 1)) break;
        ctxs_slot_read_end(held);
    }
    CHECK(v == a && held == child); /* found in the child's merged view */
    held = NULL;
    CHECK_EQ(ctxs_slot_read_begin(child, 3, &v, &held), 0);
    CHECK(held == NULL);
    CHECK_EQ(ctxs_slot_without(child, 1), CTXS_OK); /* a tombstone hides the parent's */
    CHECK_EQ(ctxs_slot_read_begin(child, 1, &v, &held), 0);
    CHECK_EQ(atomic_load(&h->ledger.retains), retains); /* borrowed: nothing retained */
    /* The lock is dropped: a write and a read through the same slots go through. */
    CHECK_EQ(ctxs_slot_assoc(parent, 5, a), CTXS_OK);
    CHECK_EQ(ctxs_slot_find(child, 5, NULL), 1);

    /* The memo: only for plain slots, only for the current contents, dropped by writes. */
    ctxs_map *snap = NULL;
    REQUIRE(ctxs_slot_snapshot(parent, &snap) == CTXS_OK);
    CHECK_EQ(ctxs_slot_memo_get(parent, &v), 0);
    CHECK_EQ(ctxs_slot_memo_set(child, snap, m1), 0);
    CHECK_EQ(ctxs_slot_memo_set(parent, snap, m1), 1);
    CHECK_EQ(ctxs_slot_memo_set(parent, snap, m2), 0); /* one memo at a time */
    v = NULL;
    CHECK_EQ(ctxs_slot_memo_get(parent, &v), 1);
    CHECK(v == m1);
    if (v != NULL) tv_put(h, v);
    CHECK_EQ(atomic_load(&m1->retains) - atomic_load(&m1->releases), 1); /* the slot's */
    CHECK_EQ(ctxs_slot_assoc(parent, 6, b), CTXS_OK);
    CHECK_EQ(atomic_load(&m1->retains), atomic_load(&m1->releases)); /* dropped by the write */
    CHECK_EQ(ctxs_slot_memo_get(parent, &v), 0);
    CHECK_EQ(ctxs_slot_memo_set(parent, snap, m2), 0); /* stale contents */
    ctxs_map_release(snap);
    REQUIRE(ctxs_slot_snapshot(parent, &snap) == CTXS_OK);
    CHECK_EQ(ctxs_slot_memo_set(parent, snap, m2), 1);
    ctxs_map_release(snap);
    /* A replace swaps the memo only while it is still the expected one. */
    CHECK_EQ(ctxs_slot_memo_replace(parent, m1, m3), 0); /* m1 is gone */
    CHECK_EQ(ctxs_slot_memo_replace(parent, m2, NULL), 0);
    CHECK_EQ(atomic_load(&m3->retains), 0);
    CHECK_EQ(ctxs_slot_memo_replace(parent, m2, m3), 1);
    CHECK_EQ(atomic_load(&m2->retains), atomic_load(&m2->releases)); /* the slot let go */
    v = NULL;
    CHECK_EQ(ctxs_slot_memo_get(parent, &v), 1);
    CHECK(v == m3);
    if (v != NULL) tv_put(h, v);
    CHECK_EQ(ctxs_slot_assoc(parent, 7, a), CTXS_OK);
    CHECK_EQ(atomic_load(&m3->retains), atomic_load(&m3->releases)); /* dropped by the write */
    CHECK_EQ(ctxs_slot_memo_replace(parent, m3, m1), 0);             /* no memo now */
    CHECK_EQ(ctxs_slot_clear(child), CTXS_OK);
    ctxs_slot_release(child);
    ctxs_slot_release(parent); /* drops the memo too */
    CHECK_EQ(atomic_load(&m2->retains), atomic_load(&m2->releases));
    tv_drop(a);
    tv_drop(b);
    tv_drop(m1);
    tv_drop(m2);
    tv_drop(m3);
}

/* ================================================================= slots */

void test_slots_plain(harness *h) {
    ctxs_store *s = h->store;
    const uint64_t probes[] = {0, 1, 2, 3, 50, 51, 99, 1ull << 63};
    const size_t np = sizeof probes / sizeof *probes;
    model m = {0};

    ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(slot != NULL);
    CHECK_EQ(ctxs_slot_depth(slot), 0);
    CHECK(ctxs_slot_parent(slot) == NULL);
    CHECK_EQ(stats_of(s).live_slots, 1);
    SLOT_EQUALS(h, slot, &m, probes, np);

    tracker *a = tv_new(h, 1), *b = tv_new(h, 2);
    CHECK_EQ(ctxs_slot_assoc(slot, 1, a), CTXS_OK);
    void *v = NULL;
    CHECK(ctxs_slot_find(slot, 1, &v) == 1 && v == a);
    CHECK_EQ(atomic_load(&a->retains), 2); /* the entry and the caller */
    if (v != NULL) tv_put(h, v);
    CHECK_EQ(store_refs(a), 1);
    CHECK_EQ(ctxs_slot_assoc(slot, 2, NULL), CTXS_EINVAL);
    CHECK_EQ(ctxs_slot_find(slot, 2, NULL), 0);
    CHECK_EQ(ctxs_slot_assoc(slot, 1, b), CTXS_OK);
    CHECK_EQ(store_refs(a), 0);
    model_set(&m, 1, b);
    SLOT_EQUALS(h, slot, &m, probes, np);
    CHECK_EQ(ctxs_slot_without(slot, 1), CTXS_OK);
    CHECK_EQ(ctxs_slot_without(slot, 99), CTXS_OK);
    model_del(&m, 1);
    SLOT_EQUALS(h, slot, &m, probes, np);
    CHECK_EQ(store_refs(b), 0);

    /* Fill; snapshots stay as they were. */
    tracker *vals[50];
    for (int i = 0; i < 50; i++) {
        vals[i] = tv_new(h, 10 + (uint64_t)i);
        CHECK_EQ(ctxs_slot_assoc(slot, (uint64_t)i, vals[i]), CTXS_OK);
        model_set(&m, (uint64_t)i, vals[i]);
    }
    SLOT_EQUALS(h, slot, &m, probes, np);
    ctxs_map *snap = NULL;
    REQUIRE(ctxs_slot_snapshot(slot, &snap) == CTXS_OK);
    model snap_m = {0};
    model_copy(&snap_m, &m);
    CHECK_EQ(ctxs_slot_assoc(slot, 51, a), CTXS_OK);
    CHECK_EQ(ctxs_slot_without(slot, 0), CTXS_OK);
    model_set(&m, 51, a);
    model_del(&m, 0);
    SLOT_EQUALS(h, slot, &m, probes, np);
    MAP_EQUALS(snap, &snap_m);

    /* Clear: empty, the snapshot still intact. */
    CHECK_EQ(ctxs_slot_clear(slot), CTXS_OK);
    model_clear(&m);
    SLOT_EQUALS(h, slot, &m, probes, np);
    MAP_EQUALS(snap, &snap_m);

    /* Replace with a map; a map of another store is refused. */
    CHECK_EQ(ctxs_slot_replace(slot, snap), CTXS_OK);
    SLOT_EQUALS(h, slot, &snap_m, probes, np);
    ctxs_map *now = NULL;
    CHECK_EQ(ctxs_slot_snapshot(slot, &now), CTXS_OK);
    CHECK_EQ(ctxs_map_same_shape(now, snap), 1);
    ctxs_map_release(now);
    ctxs_store *s2 = other_store(h);
    REQUIRE(s2 != NULL);
    ctxs_map *foreign = ctxs_map_new(s2);
    assoc_in_place(&foreign, 77, b);
    CHECK_EQ(ctxs_slot_replace(slot, foreign), CTXS_EINVAL);
    SLOT_EQUALS(h, slot, &snap_m, probes, np);

    /* Invalid creations retain nothing. */
    ctxs_slot *foreign_slot = ctxs_slot_create(s2, NULL, NULL);
    REQUIRE(foreign_slot != NULL);
    ctxs_statistics st = stats_of(s);
    CHECK(ctxs_slot_create(s, foreign, NULL) == NULL);
    CHECK(ctxs_slot_create(s, snap, slot) == NULL);
    CHECK(ctxs_slot_create(s, NULL, foreign_slot) == NULL);
    CHECK_EQ(stats_of(s).live_slots, st.live_slots);
    CHECK_EQ(stats_of(s).live_roots, st.live_roots);
    ctxs_slot_release(foreign_slot);
    ctxs_map_release(foreign);
    CHECK_EQ(ctxs_store_destroy(s2), CTXS_OK);

    /* Retain and release. */
    CHECK_PTR_EQ(ctxs_slot_retain(slot), slot);
    ctxs_slot_release(slot);
    SLOT_EQUALS(h, slot, &snap_m, probes, np);
    ctxs_map_release(snap);
    ctxs_slot_release(slot);
    CHECK_EQ(stats_of(s).live_slots, 0);
    tv_drop(a);
    tv_drop(b);
    for (int i = 0; i < 50; i++) tv_drop(vals[i]);
    model_free(&m);
    model_free(&snap_m);
}

/* A new map holding key -> value (+1), or NULL. */
static ctxs_map *one_entry(ctxs_store *s, uint64_t key, void *value) {
    ctxs_map *empty = ctxs_map_new(s), *out = NULL;
    if (empty == NULL) return NULL;
    if (ctxs_map_assoc(empty, key, value, &out) != CTXS_OK) out = NULL;
    ctxs_map_release(empty);
    return out;
}

/* A plain slot not yet written is snapshotted without the lock; the first
 * write leaves its first map as it was (never in place, never released)
 * until the slot is released or recycled. */
void test_slot_untouched(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *c = tv_new(h, 3);

    /* A slot adopting a map nothing else holds: the case a write would
     * otherwise do in place. */
    ctxs_map *m1 = one_entry(s, 1, a);
    REQUIRE(m1 != NULL);
    ctxs_slot *slot = ctxs_slot_adopt(s, m1);
    REQUIRE(slot != NULL);

    void *v = NULL;
    ctxs_slot *held = (ctxs_slot *)1;
    CHECK_EQ(ctxs_slot_read_begin(slot, 1, &v, &held), 1);
    CHECK(v == a && held == slot);
    ctxs_slot_read_end(held);
    ctxs_slot_read_end(NULL); /* a no-op */
    held = (ctxs_slot *)1;
    CHECK_EQ(ctxs_slot_read_begin(slot, 2, &v, &held), 0);
    ctxs_map *snap = NULL;
    CHECK_EQ(ctxs_slot_snapshot(slot, &snap), CTXS_OK);
    CHECK(snap == m1); /* the first map itself, forked without the lock */
    ctxs_map_release(snap);
    CHECK_EQ(store_refs(a), 1);

    /* The first write replaces the value of key 1: the first map keeps a. */
    CHECK_EQ(ctxs_slot_assoc(slot, 1, b), CTXS_OK);
    CHECK_EQ(store_refs(a), 1);
    CHECK_EQ(store_refs(b), 1);
    held = NULL;
    CHECK_EQ(ctxs_slot_read_begin(slot, 1, &v, &held), 1);
    CHECK(v == b && held == slot);
    ctxs_slot_read_end(held);
    /* Later writes go in place in the slot's own map; a stays kept. */
    CHECK_EQ(ctxs_slot_assoc(slot, 1, c), CTXS_OK);
    CHECK_EQ(store_refs(b), 0);
    CHECK_EQ(store_refs(a), 1);
    CHECK_EQ(ctxs_slot_snapshot(slot, &snap), CTXS_OK);
    CHECK(snap != m1 && ctxs_map_count(snap) == 1);
    CHECK(ctxs_map_find(snap, 1, &v) == 1 && v == c);
    ctxs_map_release(snap);

    /* Recycled and reset: untouched again, with a new first map. */
    CHECK_EQ(ctxs_slot_recycle(slot), 1);
    CHECK_EQ(store_refs(a), 0); /* the first map went with the recycle */
    CHECK_EQ(store_refs(c), 0);
    ctxs_map *m2 = one_entry(s, 2, b);
    REQUIRE(m2 != NULL);
    CHECK_EQ(ctxs_slot_reset(slot, m2), CTXS_OK);
    held = (ctxs_slot *)1;
    CHECK_EQ(ctxs_slot_read_begin(slot, 2, &v, &held), 1);
    CHECK(v == b && held == slot);
    ctxs_slot_read_end(held);
    /* An untouched slot recycles its one map once. */
    CHECK_EQ(ctxs_slot_recycle(slot), 1);
    CHECK_EQ(store_refs(b), 0);

    /* clear and replace are first writes too. */
    m2 = one_entry(s, 3, c);
    REQUIRE(m2 != NULL);
    CHECK_EQ(ctxs_slot_reset(slot, m2), CTXS_OK);
    CHECK_EQ(ctxs_slot_clear(slot), CTXS_OK);
    CHECK_EQ(store_refs(c), 1); /* kept by the first map */
    CHECK_EQ(ctxs_slot_find(slot, 3, NULL), 0);
    ctxs_slot_release(slot);
    CHECK_EQ(store_refs(c), 0);

    m2 = one_entry(s, 3, c);
    REQUIRE(m2 != NULL);
    ctxs_slot *other = ctxs_slot_adopt(s, m2);
    REQUIRE(other != NULL);
    ctxs_map *with_a = one_entry(s, 1, a);
    REQUIRE(with_a != NULL);
    CHECK_EQ(ctxs_slot_replace(other, with_a), CTXS_OK);
    ctxs_map_release(with_a);
    CHECK_EQ(store_refs(c), 1);
    CHECK_EQ(ctxs_slot_find(other, 1, NULL), 1);
    ctxs_slot_release(other);
    CHECK_EQ(store_refs(c), 0);
    CHECK_EQ(store_refs(a), 0);

    tv_drop(a);
    tv_drop(b);
    tv_drop(c);
}

/* Borrowed first maps (CContextStoreSPI.h): a slot that borrows another's
 * untouched map counts no reference to it, until it owns it. */
void test_slot_borrowed(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2);
    ctxs_map *lent = one_entry(s, 1, a);
    REQUIRE(lent != NULL);
    ctxs_slot *lender = ctxs_slot_adopt(s, lent);
    REQUIRE(lender != NULL);
    ctxs_map *base = NULL;
    CHECK_EQ(ctxs_slot_borrow_base(lender, &base), 1);
    CHECK(base == lent);

    /* A recycled slot borrows it: reads see it, a write copies, a recycle
     * releases only what the slot made. */
    ctxs_slot *copy = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(copy != NULL);
    CHECK_EQ(ctxs_slot_recycle(copy), 1);
    CHECK_EQ(ctxs_slot_reset_borrowed(copy, base), CTXS_OK);
    CHECK_EQ(store_refs(a), 1);
    void *v = NULL;
    CHECK(ctxs_slot_find(copy, 1, &v) == 1 && v == a);
    tv_put(h, v);
    CHECK_EQ(ctxs_slot_assoc(copy, 2, b), CTXS_OK);
    CHECK_EQ(ctxs_slot_borrow_base(copy, &base), 0); /* touched: nothing to lend */
    CHECK_EQ(ctxs_slot_recycle(copy), 1);
    CHECK_EQ(store_refs(b), 0);
    CHECK_EQ(store_refs(a), 1); /* the lender's, untouched */

    /* Borrowed, then owned: it outlives the lender. */
    CHECK_EQ(ctxs_slot_borrow_base(lender, &base), 1);
    CHECK_EQ(ctxs_slot_reset_borrowed(copy, base), CTXS_OK);
    ctxs_slot_own_base(copy);
    ctxs_slot_own_base(copy); /* once is enough: the second does nothing */
    ctxs_slot_release(lender);
    CHECK_EQ(store_refs(a), 1);
    CHECK(ctxs_slot_find(copy, 1, &v) == 1 && v == a);
    tv_put(h, v);
    CHECK_EQ(ctxs_slot_assoc(copy, 1, b), CTXS_OK); /* first write: the owned map is kept */
    CHECK_EQ(store_refs(a), 1);
    ctxs_slot_release(copy);
    CHECK_EQ(store_refs(a), 0);
    CHECK_EQ(store_refs(b), 0);

    /* A chained slot lends nothing. */
    ctxs_slot *parent = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(parent != NULL);
    ctxs_slot *child = ctxs_slot_create(s, NULL, parent);
    REQUIRE(child != NULL);
    CHECK_EQ(ctxs_slot_borrow_base(child, &base), 0);
    ctxs_slot_release(child);
    ctxs_slot_release(parent);
    tv_drop(a);
    tv_drop(b);
}

/* A read that finds the slot's lock held (here by another thread's
 * borrowed read) waits for it, then reads as usual: a hit, and a miss that
 * drops the lock again. */
typedef struct contended_reader {
    ctxs_slot *slot;
    void *hit;   /* what the read of key 1 returned */
    int found;   /* its result */
    int missing; /* the result of the read of key 2 */
    _Atomic int done;
} contended_reader;

static void *contended_read(void *arg) {
    contended_reader *r = arg;
    ctxs_slot *held = NULL;
    r->found = ctxs_slot_read_begin(r->slot, 1, &r->hit, &held);
    if (r->found == 1) ctxs_slot_read_end(held);
    void *v = NULL;
    r->missing = ctxs_slot_read_begin(r->slot, 2, &v, &held);
    atomic_store(&r->done, 1);
    return NULL;
}

void test_slot_contended_read(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1);
    ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(slot != NULL);
    REQUIRE(ctxs_slot_assoc(slot, 1, a) == CTXS_OK);

    void *v = NULL;
    ctxs_slot *held = NULL;
    REQUIRE(ctxs_slot_read_begin(slot, 1, &v, &held) == 1); /* holds the lock */
    contended_reader reader = {.slot = slot};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, contended_read, &reader) == 0);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_EQ(atomic_load(&reader.done), 0); /* still waiting for the lock */
    ctxs_slot_read_end(held);
    pthread_join(thread, NULL);
    CHECK_EQ(reader.found, 1);
    CHECK(reader.hit == a);
    CHECK_EQ(reader.missing, 0);
    /* The miss left the lock free: a write goes through. */
    CHECK_EQ(ctxs_slot_assoc(slot, 2, a), CTXS_OK);
    ctxs_slot_release(slot);
    tv_drop(a);
}

/* Pending writes (slot.c): a plain slot keeps its first new keys out of its
 * map. They read, copy, chain, snapshot and release like any entry, and a
 * value they give up is released at once. */
/* Fills a fresh slot's pending entries with keys[k] -> moved[k] and
 * snapshots it: the snapshot holds them all, and a later write of a key
 * replaces it in the slot's map only. (test_alloc_failure.c makes each
 * allocation of such snapshots fail in turn, the second set of keys here
 * among them.) */
static void check_snapshot_moves(harness *h, const uint64_t keys[CTXS_SLOT_PENDING],
                                 tracker *moved[CTXS_SLOT_PENDING]) {
    ctxs_store *s = h->store;
    ctxs_slot *fresh = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(fresh != NULL);
    for (uint64_t k = 0; k < CTXS_SLOT_PENDING; k++)
        CHECK_EQ(ctxs_slot_assoc(fresh, keys[k], moved[k]), CTXS_OK);
    size_t live = stats_of(s).live_values;
    ctxs_map *snap = NULL;
    CHECK_EQ(ctxs_slot_snapshot(fresh, &snap), CTXS_OK);
    REQUIRE(snap != NULL);
    CHECK_EQ(stats_of(s).live_values, live);
    CHECK_EQ(ctxs_map_count(snap), CTXS_SLOT_PENDING);
    CHECK_EQ(ctxs_map_check(snap), 1);
    void *got = NULL;
    for (uint64_t k = 0; k < CTXS_SLOT_PENDING; k++) {
        CHECK(ctxs_map_find(snap, keys[k], &got) == 1 && got == moved[k]); /* borrowed */
    }
    /* Moved into the map: the slot reads it there, and a later write of
     * the key replaces it in the map (the snapshot keeps its own). */
    CHECK_EQ(ctxs_slot_assoc(fresh, keys[0], moved[2]), CTXS_OK);
    CHECK(ctxs_map_find(snap, keys[0], &got) == 1 && got == moved[0]);
    CHECK(slot_holds(h, fresh, keys[0], moved[2]));
    ctxs_map_release(snap);
    ctxs_slot_release(fresh);
}

void test_slot_pending(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *c = tv_new(h, 3), *d = tv_new(h, 4),
            *e = tv_new(h, 5);
    ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(slot != NULL);

    /* The first new keys allocate nothing, read back, and are live values. */
    size_t values = stats_of(s).live_values;
    uint64_t before = ctxs_store_allocation_count(s);
    for (uint64_t k = 0; k < CTXS_SLOT_PENDING; k++) CHECK_EQ(ctxs_slot_assoc(slot, k, a), CTXS_OK);
    CHECK_EQ(ctxs_store_allocation_count(s) - before, 0);
    CHECK_EQ(stats_of(s).live_values, values + CTXS_SLOT_PENDING);
    for (uint64_t k = 0; k < CTXS_SLOT_PENDING; k++) {
        CHECK(slot_holds(h, slot, k, a));
    }
    /* One more goes to the map. */
    CHECK_EQ(ctxs_slot_assoc(slot, 100, b), CTXS_OK);
    CHECK(ctxs_store_allocation_count(s) - before > 0);
    CHECK(slot_holds(h, slot, 100, b));

    /* A pending value given up by a write or a removal is released at once. */
    CHECK_EQ(ctxs_slot_assoc(slot, 0, c), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(slot, 0, d), CTXS_OK);
    CHECK_EQ(atomic_load(&c->releases), atomic_load(&c->retains));
    CHECK_EQ(ctxs_slot_without(slot, 0), CTXS_OK);
    CHECK_EQ(atomic_load(&d->releases), atomic_load(&d->retains));
    CHECK_EQ(ctxs_slot_find(slot, 0, NULL), 0);

    /* A copy (Task(inheriting: .copy)) takes the pending entries along;
     * what either side writes next stays its own. */
    size_t held = stats_of(s).live_values;
    ctxs_slot *copy = ctxs_slot_copy(s, slot, NULL);
    REQUIRE(copy != NULL);
    CHECK_EQ(stats_of(s).live_values, held + CTXS_SLOT_PENDING - 1); /* its own references */
    CHECK(slot_holds(h, copy, 1, a));
    CHECK_EQ(ctxs_slot_assoc(copy, 1, e), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(slot, 2, e), CTXS_OK);
    CHECK(slot_holds(h, slot, 1, a));
    CHECK(slot_holds(h, copy, 2, a));
    CHECK(slot_holds(h, copy, 1, e));

    /* A chained child sees the pending entries (they move to the map). */
    ctxs_slot *child = ctxs_slot_create(s, NULL, slot);
    REQUIRE(child != NULL);
    CHECK(slot_holds(h, child, 2, e));
    CHECK(slot_holds(h, child, 3, a));
    ctxs_slot_release(child);

    /* Snapshots move pending entries into a map: keys whose level-0
     * fragments differ (inserted in place into the root the first one
     * makes), and a key whose fragment the first key holds (7 + 32: that
     * insert takes the general edit). */
    tracker *moved[CTXS_SLOT_PENDING] = {b, c, d, e};
    static const uint64_t apart[CTXS_SLOT_PENDING] = {7, 8, 9, 10};
    static const uint64_t sharing[CTXS_SLOT_PENDING] = {7, 8, 7 + 32, 9};
    check_snapshot_moves(h, apart, moved);
    check_snapshot_moves(h, sharing, moved);

    ctxs_slot_release(copy);
    ctxs_slot_release(slot);
    CHECK_EQ(stats_of(s).live_values, values);
    /* Everything the slots held is released, each value as often as it was
     * retained. */
    tracker *all[] = {a, b, c, d, e};
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ(atomic_load(&all[i]->releases), atomic_load(&all[i]->retains));
    for (size_t i = 0; i < 5; i++) tv_drop(all[i]);
}
