/*
 * test_alloc_failure.c: every allocation point of every operation failed on
 * purpose (ctxs_store_fail_allocation): CTXS_ENOMEM, and nothing changed or
 * leaked.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================== allocation failure */

/* Allocation failures injected by the current alloc_failure run. */
static uint64_t injected_failures;

/* What must not change when an operation fails. */
typedef struct probe {
    ctxs_statistics st;
    uint64_t retains, releases;
} probe;

static probe probe_take(harness *h) {
    probe p;
    p.st = stats_of(h->store);
    p.retains = atomic_load(&h->ledger.retains);
    p.releases = atomic_load(&h->ledger.releases);
    return p;
}

/* With `net`, a failed call may retain values as long as it released each of
 * them again (ctxs_slot_snapshot, whose contract does not forbid it). */
static bool probe_same(harness *h, const probe *p, const char *what, uint64_t i, bool net,
                       const char *file, int line) {
    probe q = probe_take(h);
#define SAME(field, name)                                                                         \
    check_report(file, line, p->field == q.field,                                                 \
                 "%s, allocation %llu failing: %s changed from %llu to %llu", what, ull(i), name, \
                 ull(p->field), ull(q.field))
    bool ok = SAME(st.live_roots, "live_roots");
    ok &= SAME(st.live_nodes, "live_nodes");
    ok &= SAME(st.live_values, "live_values");
    ok &= SAME(st.live_slots, "live_slots");
    ok &= SAME(st.interned_keys, "interned_keys");
    ok &= SAME(st.bytes_in_use, "bytes_in_use");
    if (net) {
        ok &= check_report(file, line, p->retains - p->releases == q.retains - q.releases,
                           "%s, allocation %llu failing: values retained %llu, released %llu", what,
                           ull(i), ull(q.retains - p->retains), ull(q.releases - p->releases));
    } else {
        ok &= SAME(retains, "value retains");
        ok &= SAME(releases, "value releases");
    }
#undef SAME
    return ok;
}
#define PROBE_SAME(h, p, what, i) probe_same((h), (p), (what), (i), false, __FILE__, __LINE__)
#define PROBE_SAME_NET(h, p, what, i) probe_same((h), (p), (what), (i), true, __FILE__, __LINE__)

/* Runs ctxs_map_assoc (value != NULL) or ctxs_map_without (value == NULL). */
static int map_op(ctxs_map *m, uint64_t key, void *value, ctxs_map **out) {
    return value != NULL ? ctxs_map_assoc(m, key, value, out) : ctxs_map_without(m, key, out);
}

/* Fails each allocation of one map operation in turn. With `shared`, a fork
 * of m is held during the calls, so m is not uniquely referenced. */
static void fail_map_op(harness *h, ctxs_map *m, uint64_t key, void *value, bool shared,
                        const char *what) {
    ctxs_store *s = h->store;
    model before = {0}, after = {0};
    model_from_map(&before, m);
    model_copy(&after, &before);
    if (value != NULL)
        model_set(&after, key, value);
    else
        model_del(&after, key);
    ctxs_map *copy = map_copy(h, m);
    ctxs_map *fork = shared ? ctxs_map_fork(m) : NULL;

    uint64_t a0 = ctxs_store_allocation_count(s);
    ctxs_map *out = NULL;
    int rc = map_op(m, key, value, &out);
    uint64_t k = ctxs_store_allocation_count(s) - a0;
    if (!CHECKF(rc == CTXS_OK, "%s: returned %d", what, rc)) goto done;
    MAP_EQUALS(out, &after);
    /* A new non-empty map needs memory; the empty map is preallocated. */
    if (after.n > 0 && (value != NULL || model_get(&before, key) != NULL))
        CHECKF(k > 0, "%s: a new map without an allocation", what);
    ctxs_map_release(out);

    for (uint64_t i = 1; i <= k; i++) {
        probe p = probe_take(h);
        ctxs_map *sentinel = (ctxs_map *)&p;
        out = sentinel;
        ctxs_store_fail_allocation(s, i);
        rc = map_op(m, key, value, &out);
        ctxs_store_fail_allocation(s, 0);
        injected_failures++;
        CHECKF(rc == CTXS_ENOMEM, "%s: allocation %llu of %llu failing: returned %d", what, ull(i),
               ull(k), rc);
        if (rc == CTXS_OK) {
            ctxs_map_release(out);
            continue;
        }
        CHECKF(out == sentinel, "%s: allocation %llu failing: *out was written", what, ull(i));
        PROBE_SAME(h, &p, what, i);
        if (!MAP_EQUALS(m, &before)) printf("    (%s, allocation %llu failing)\n", what, ull(i));
        CHECKF(ctxs_map_same_shape(m, copy) == 1, "%s: allocation %llu failing: shape changed",
               what, ull(i));
        if (fork != NULL) CHECK_EQ(ctxs_map_same_shape(m, fork), 1);
    }
    /* Disarmed: it succeeds again. */
    out = NULL;
    rc = map_op(m, key, value, &out);
    if (CHECKF(rc == CTXS_OK, "%s: after the failures: returned %d", what, rc)) {
        MAP_EQUALS(out, &after);
        ctxs_map_release(out);
    }
    MAP_EQUALS(m, &before);
done:
    ctxs_map_release(fork);
    ctxs_map_release(copy);
    model_free(&before);
    model_free(&after);
}

/* Slot operations under allocation failure: each run rebuilds the slot. */
enum slot_op_kind { SLOT_ASSOC, SLOT_WITHOUT, SLOT_SNAPSHOT };

typedef struct slot_fixture {
    harness *h;
    ctxs_map *base; /* the parent's (or plain slot's) initial map */
    bool chained;
    const uint64_t *pending; /* plain, with these CTXS_SLOT_PENDING new keys pending; or NULL */
    tracker *own[3];         /* values the chained layer (or the pending keys) set */
    ctxs_slot *parent, *slot;
    model view; /* the slot's effective contents after setup */
} slot_fixture;

static void fixture_setup(slot_fixture *f) {
    harness *h = f->h;
    model_from_map(&f->view, f->base);
    f->parent = NULL;
    if (!f->chained) {
        f->slot = ctxs_slot_create(h->store, f->base, NULL);
        if (f->slot == NULL || f->pending == NULL) return;
        /* New keys a plain slot keeps out of its map (slot.c). */
        uint64_t a0 = ctxs_store_allocation_count(h->store);
        for (unsigned k = 0; k < CTXS_SLOT_PENDING; k++) {
            tracker *value = f->own[k % 3];
            CHECK_EQ(ctxs_slot_assoc(f->slot, f->pending[k], value), CTXS_OK);
            model_set(&f->view, f->pending[k], value);
        }
        CHECKF(ctxs_store_allocation_count(h->store) == a0, "the pending writes allocated");
        return;
    }
    f->parent = ctxs_slot_create(h->store, f->base, NULL);
    f->slot = f->parent ? ctxs_slot_create(h->store, NULL, f->parent) : NULL;
    if (f->slot == NULL) return;
    CHECK_EQ(ctxs_slot_assoc(f->slot, 100, f->own[0]), CTXS_OK); /* own key */
    CHECK_EQ(ctxs_slot_assoc(f->slot, 3, f->own[1]), CTXS_OK);   /* overrides the parent */
    CHECK_EQ(ctxs_slot_without(f->slot, 4), CTXS_OK);            /* hides the parent's */
    model_set(&f->view, 100, f->own[0]);
    model_set(&f->view, 3, f->own[1]);
    model_del(&f->view, 4);
}

static void fixture_teardown(slot_fixture *f) {
    ctxs_slot_release(f->slot);
    ctxs_slot_release(f->parent);
    f->slot = f->parent = NULL;
    model_free(&f->view);
}

static int slot_op(slot_fixture *f, enum slot_op_kind kind, uint64_t key, void *value,
                   ctxs_map **out) {
    switch (kind) {
    case SLOT_ASSOC: return ctxs_slot_assoc(f->slot, key, value);
    case SLOT_WITHOUT: return ctxs_slot_without(f->slot, key);
    default: return ctxs_slot_snapshot(f->slot, out);
    }
}

static const uint64_t slot_probe_keys[] = {0, 2, 3, 4, 5, 25, 33, 39, 72, 100, 101, 120, 999, 1057};

static void fail_slot_op(slot_fixture *f, enum slot_op_kind kind, uint64_t key, void *value,
                         const char *what) {
    harness *h = f->h;
    ctxs_store *s = h->store;
    model after = {0};
    uint64_t probes[16];
    size_t np = 0;
    for (size_t i = 0; i < sizeof slot_probe_keys / sizeof *slot_probe_keys; i++)
        probes[np++] = slot_probe_keys[i];
    probes[np++] = key;

    /* Count the allocation points on a fresh fixture. */
    fixture_setup(f);
    if (!CHECKF(f->slot != NULL, "%s: setup", what)) {
        fixture_teardown(f);
        return;
    }
    model_copy(&after, &f->view);
    if (kind == SLOT_ASSOC)
        model_set(&after, key, value);
    else if (kind == SLOT_WITHOUT)
        model_del(&after, key);
    ctxs_map *out = NULL;
    uint64_t a0 = ctxs_store_allocation_count(s);
    int rc = slot_op(f, kind, key, value, &out);
    uint64_t k = ctxs_store_allocation_count(s) - a0;
    CHECKF(rc == CTXS_OK, "%s: returned %d", what, rc);
    /* A move of pending entries makes a leaf for each, then nodes. */
    if (kind == SLOT_SNAPSHOT && f->pending != NULL)
        CHECKF(k > CTXS_SLOT_PENDING, "%s: only %llu allocation points", what, ull(k));
    if (kind == SLOT_SNAPSHOT && rc == CTXS_OK) {
        MAP_EQUALS(out, &after);
        ctxs_map_release(out);
    }
    SLOT_EQUALS(h, f->slot, &after, probes, np);
    fixture_teardown(f);

    for (uint64_t i = 1; i <= k; i++) {
        fixture_setup(f);
        if (!CHECKF(f->slot != NULL, "%s: setup", what)) {
            fixture_teardown(f);
            break;
        }
        probe p = probe_take(h);
        ctxs_map *sentinel = (ctxs_map *)&p;
        out = sentinel;
        ctxs_store_fail_allocation(s, i);
        rc = slot_op(f, kind, key, value, &out);
        ctxs_store_fail_allocation(s, 0);
        injected_failures++;
        CHECKF(rc == CTXS_ENOMEM, "%s: allocation %llu of %llu failing: returned %d", what, ull(i),
               ull(k), rc);
        if (rc == CTXS_OK) {
            if (kind == SLOT_SNAPSHOT) ctxs_map_release(out);
        } else {
            CHECKF(out == sentinel, "%s: allocation %llu failing: *out was written", what, ull(i));
            if (kind == SLOT_SNAPSHOT)
                PROBE_SAME_NET(h, &p, what, i);
            else
                PROBE_SAME(h, &p, what, i);
            if (!SLOT_EQUALS(h, f->slot, &f->view, probes, np))
                printf("    (%s, allocation %llu failing)\n", what, ull(i));
            /* And it works once disarmed. */
            out = NULL;
            rc = slot_op(f, kind, key, value, &out);
            CHECKF(rc == CTXS_OK, "%s: after a failure: returned %d", what, rc);
            if (kind == SLOT_SNAPSHOT && rc == CTXS_OK) ctxs_map_release(out);
            SLOT_EQUALS(h, f->slot, &after, probes, np);
        }
        fixture_teardown(f);
    }
    model_free(&after);
}

/* Fails each allocation of ctxs_slot_create in turn. */
static void fail_slot_create(harness *h, const ctxs_map *base, int mode, const char *what) {
    ctxs_store *s = h->store;
    /* mode 0: plain, no initial map; 1: plain over a fresh copy of base; 2: chained */
    for (uint64_t i = 0;; i++) {
        ctxs_statistics st_pre = stats_of(s);
        ctxs_map *initial = mode == 1 ? map_copy(h, base) : NULL;
        ctxs_slot *parent = NULL;
        if (mode == 2) {
            ctxs_map *m = map_copy(h, base);
            parent = ctxs_slot_create(s, m, NULL);
            ctxs_map_release(m);
            if (!CHECKF(parent != NULL, "%s: setup", what)) break;
        }
        model initial_m = {0};
        if (initial != NULL) model_from_map(&initial_m, initial);
        probe p = probe_take(h);
        uint64_t a0 = ctxs_store_allocation_count(s);
        ctxs_store_fail_allocation(s, i); /* i == 0: disarmed, the counting run */
        ctxs_slot *slot = ctxs_slot_create(s, initial, parent);
        ctxs_store_fail_allocation(s, 0);
        uint64_t used = ctxs_store_allocation_count(s) - a0;
        bool done = false;
        if (i == 0) {
            CHECKF(slot != NULL, "%s: failed when nothing failed", what);
            CHECKF(used > 0, "%s: a slot without an allocation", what);
        } else if (slot == NULL) {
            injected_failures++;
            PROBE_SAME(h, &p, what, i);
            if (initial != NULL) MAP_EQUALS(initial, &initial_m);
        } else {
            /* Armed past the last allocation point: all of them were seen. */
            CHECKF(used == i - 1, "%s: succeeded with allocation %llu armed after %llu allocations",
                   what, ull(i), ull(used));
            done = true;
        }
        ctxs_slot_release(slot);
        ctxs_map_release(initial);
        ctxs_slot_release(parent);
        model_free(&initial_m);
        /* Nothing was retained by the failed create: all of it is gone again. */
        ctxs_statistics st = stats_of(s);
        CHECKF(st.live_roots == st_pre.live_roots && st.live_nodes == st_pre.live_nodes &&
                   st.live_values == st_pre.live_values && st.live_slots == st_pre.live_slots,
               "%s, allocation %llu failing: objects left behind (%zu roots, %zu slots)", what,
               ull(i), st.live_roots, st.live_slots);
        if (done || !CHECKF(i < 64, "%s: more than 64 allocation points", what)) break;
    }
}

/* Interns fresh names with each allocation failing in turn until one call
 * succeeds; allocation_count then says it used exactly the points that
 * failed before. Table growth is hit along the way. */
static void fail_intern(harness *h) {
    ctxs_store *s = h->store;
    size_t failures = 0;
    char *name = xcalloc(5000, 1);
    for (int n = 0; n < 300; n++) {
        size_t length = (size_t)snprintf(name, 64, "fail-%d", n);
        if (n % 50 == 7) {
            memset(name + length, 'x', 4000);
            length += 4000;
        }
        if (n == 0) length = 0; /* the empty name */
        for (uint64_t i = 1;; i++) {
            probe p = probe_take(h);
            uint64_t id = 0xDEADBEEFull;
            uint64_t a0 = ctxs_store_allocation_count(s);
            ctxs_store_fail_allocation(s, i);
            int rc = ctxs_intern(s, name, length, &id);
            ctxs_store_fail_allocation(s, 0);
            uint64_t used = ctxs_store_allocation_count(s) - a0;
            if (rc == CTXS_ENOMEM) {
                failures++;
                injected_failures++;
                CHECKF(id == 0xDEADBEEFull, "intern, allocation %llu failing: *id written", ull(i));
                PROBE_SAME(h, &p, "ctxs_intern", i);
                uint64_t found = 0;
                CHECKF(ctxs_intern_find(s, name, length, &found) == 0,
                       "intern, allocation %llu failing: the name was interned", ull(i));
            } else {
                CHECKF(rc == CTXS_OK, "intern: returned %d", rc);
                CHECKF(used == i - 1, "intern of name %d: %llu allocations, but %llu failed first",
                       n, ull(used), ull(i - 1));
                CHECK_EQ(stats_of(s).interned_keys, p.st.interned_keys + 1);
                uint64_t found = 0;
                CHECK(ctxs_intern_find(s, name, length, &found) == 1 && found == id);
                break;
            }
            if (!CHECKF(i < 64, "intern: more than 64 allocation points")) break;
        }
    }
    CHECKF(failures > 0, "300 names interned without one allocation");
    free(name);
}

void test_alloc_failure(harness *h) {
    ctxs_store *s = h->store;
    enum { NV = 24 };
    tracker *v[NV];
    void *values[NV];
    for (int i = 0; i < NV; i++) values[i] = v[i] = tv_new(h, (uint64_t)i);
    tracker *nv = tv_new(h, 1000); /* the value the operations insert */

    /* The fixture: 0..19 at the root; 1, 33, 65 at level 1; 33, 1057 at
     * level 2; 7 and 7 | 2^63 twelve levels down. */
    const uint64_t fixture_keys[] = {0,  1,  2,  3,  4,  5,  6,    7,
                                     8,  9,  10, 11, 12, 13, 14,   15,
                                     16, 17, 18, 19, 33, 65, 1057, 7 | (1ull << 63)};
    ctxs_map *fixture = map_of(h, fixture_keys, values, NV);
    ctxs_map *empty = ctxs_map_new(s);
    ctxs_map *single = NULL;
    CHECK_EQ(ctxs_map_assoc(empty, 5, v[0], &single), CTXS_OK);
    injected_failures = 0;

    for (int shared = 0; shared < 2; shared++) {
        fail_map_op(h, empty, 5, nv, shared, "assoc into the empty map");
        fail_map_op(h, fixture, 25, nv, shared, "assoc of a new root entry");
        fail_map_op(h, fixture, 34, nv, shared, "assoc that pushes an entry down a level");
        fail_map_op(h, fixture, 97, nv, shared, "assoc into a level-1 node");
        fail_map_op(h, fixture, 3, nv, shared, "assoc that replaces a value");
        fail_map_op(h, fixture, 1057, nv, shared, "assoc that replaces a level-2 value");
        fail_map_op(h, fixture, 2 | (1ull << 62), nv, shared, "assoc that splits 12 levels");
        fail_map_op(h, fixture, 7 | (1ull << 62), nv, shared, "assoc at the last level");
        fail_map_op(h, fixture, 4, NULL, shared, "without of a root entry");
        fail_map_op(h, fixture, 33, NULL, shared, "without that inlines a level-2 entry");
        fail_map_op(h, fixture, 65, NULL, shared, "without in a level-1 node");
        fail_map_op(h, fixture, 7 | (1ull << 63), NULL, shared, "without that collapses 12 levels");
        fail_map_op(h, fixture, 7, NULL, shared, "without that collapses 12 levels, other key");
        fail_map_op(h, fixture, 999, NULL, shared, "without of an absent key");
        if (single != NULL) fail_map_op(h, single, 5, NULL, shared, "without of the last key");
    }

    tracker *own[3] = {tv_new(h, 2000), tv_new(h, 2001), tv_new(h, 2002)};
    /* Pending keys whose move into a map (the snapshot's flush, in order)
     * inserts in place before it takes the general edit, which allocates:
     * over the fixture, 120 copies the root (with room for one more), 121
     * goes in place, 72 meets the leaf 8 and 39 meets 7's subtree; over
     * the empty map, 7 makes a root with room for four, 8 goes in place,
     * and 39 = 7 + 32 meets the leaf 7. */
    static const uint64_t pending_over_fixture[CTXS_SLOT_PENDING] = {120, 121, 72, 39};
    static const uint64_t pending_over_empty[CTXS_SLOT_PENDING] = {7, 8, 39, 9};
    for (int mode = 0; mode < 4; mode++) {
        slot_fixture f;
        memset(&f, 0, sizeof f);
        f.h = h;
        f.base = mode == 3 ? empty : fixture;
        f.chained = mode == 1;
        f.pending = mode == 2 ? pending_over_fixture : mode == 3 ? pending_over_empty : NULL;
        memcpy(f.own, own, sizeof own);
        const char *prefix = mode == 0   ? "plain slot"
                             : mode == 1 ? "chained slot"
                             : mode == 2 ? "plain slot, writes pending"
                                         : "plain slot over the empty map, writes pending";
        char what[128];
#define FAIL_SLOT(kind, key, value, text)                    \
    do {                                                     \
        snprintf(what, sizeof what, "%s: %s", prefix, text); \
        fail_slot_op(&f, kind, key, value, what);            \
    } while (0)
        FAIL_SLOT(SLOT_ASSOC, 25, nv, "assoc of a new key");
        FAIL_SLOT(SLOT_ASSOC, 3, nv, "assoc that replaces");
        FAIL_SLOT(SLOT_ASSOC, 4, nv, "assoc of a hidden key");
        FAIL_SLOT(SLOT_ASSOC, 2 | (1ull << 62), nv, "assoc that splits 12 levels");
        FAIL_SLOT(SLOT_WITHOUT, 5, NULL, "without of an inherited or own key");
        FAIL_SLOT(SLOT_WITHOUT, 33, NULL, "without that inlines");
        FAIL_SLOT(SLOT_WITHOUT, 7, NULL, "without that collapses");
        FAIL_SLOT(SLOT_WITHOUT, 100, NULL, "without of a layer key");
        FAIL_SLOT(SLOT_WITHOUT, 3, NULL, "without of an overridden key");
        FAIL_SLOT(SLOT_WITHOUT, 999, NULL, "without of an absent key");
        FAIL_SLOT(SLOT_SNAPSHOT, 0, NULL, "snapshot");
#undef FAIL_SLOT
    }

    fail_slot_create(h, fixture, 0, "ctxs_slot_create (plain, empty)");
    fail_slot_create(h, fixture, 1, "ctxs_slot_create (plain, initial map)");
    fail_slot_create(h, fixture, 2, "ctxs_slot_create (chained)");
    fail_intern(h);
    /* The operations above (most with several allocation points) and 300
     * interns. */
    CHECKF(injected_failures >= 200, "only %llu allocation failures were injected",
           ull(injected_failures));

    ctxs_map_release(single);
    ctxs_map_release(empty);
    ctxs_map_release(fixture);
    for (int i = 0; i < 3; i++) tv_drop(own[i]);
    for (int i = 0; i < NV; i++) tv_drop(v[i]);
    tv_drop(nv);
}

/* ctxs_slot_copy that cannot allocate returns NULL and changes nothing,
 * whichever of its allocations fails: from a plain slot with entries
 * pending, from a chained one (whose merged contents it snapshots), and
 * into a recycled slot. */
void test_slot_copy_failure(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2);
    ctxs_slot *plain = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(plain != NULL);
    for (uint64_t k = 0; k < 40; k++) REQUIRE(ctxs_slot_assoc(plain, k, a) == CTXS_OK);
    ctxs_map *frozen = NULL; /* moves the pending entries; then some more */
    REQUIRE(ctxs_slot_snapshot(plain, &frozen) == CTXS_OK);
    ctxs_map_release(frozen);
    for (uint64_t k = 100; k < 103; k++) REQUIRE(ctxs_slot_assoc(plain, k, b) == CTXS_OK);
    ctxs_slot *chained = ctxs_slot_create(s, NULL, plain);
    REQUIRE(chained != NULL);
    for (uint64_t k = 200; k < 210; k++) REQUIRE(ctxs_slot_assoc(chained, k, b) == CTXS_OK);
    REQUIRE(ctxs_slot_without(chained, 3) == CTXS_OK);
    ctxs_slot *spare = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(spare != NULL);
    REQUIRE(ctxs_slot_recycle(spare) == 1);

    struct {
        ctxs_slot *from, *into;
        const char *what;
        size_t count;    /* what the copy holds */
        uint64_t points; /* allocations it makes at least: the slot; the merge */
    } cases[] = {
        {plain, NULL, "a copy of a plain slot", 43, 1},
        {chained, NULL, "a copy of a chained slot", 52, 2},
        {chained, spare, "a copy of a chained slot into a recycled slot", 52, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ctxs_slot *copy = NULL;
        uint64_t point = 1;
        for (; point < 256; point++) {
            probe before = probe_take(h);
            ctxs_store_fail_allocation(s, point);
            copy = ctxs_slot_copy(s, cases[c].from, cases[c].into);
            ctxs_store_fail_allocation(s, 0);
            if (copy != NULL) break;
            /* A failed copy of pending entries retains them and lets go. */
            PROBE_SAME_NET(h, &before, cases[c].what, point);
            void *got = NULL;
            CHECK(ctxs_slot_find(cases[c].from, 3, &got) == (cases[c].from == plain));
            if (got != NULL) tv_put(h, got);
        }
        REQUIRE(copy != NULL);
        CHECKF(point > cases[c].points, "%s failed at only %llu points", cases[c].what,
               ull(point - 1));
        CHECK(cases[c].into == NULL || copy == cases[c].into);
        ctxs_map *contents = NULL;
        REQUIRE(ctxs_slot_snapshot(copy, &contents) == CTXS_OK);
        CHECKF(ctxs_map_count(contents) == cases[c].count, "%s holds %zu entries", cases[c].what,
               ctxs_map_count(contents));
        ctxs_map_release(contents);
        if (cases[c].into == NULL) ctxs_slot_release(copy);
    }
    ctxs_slot_release(spare);
    ctxs_slot_release(chained);
    ctxs_slot_release(plain);
    CHECK_EQ(atomic_load(&a->releases), atomic_load(&a->retains));
    CHECK_EQ(atomic_load(&b->releases), atomic_load(&b->retains));
    tv_drop(a);
    tv_drop(b);
}
