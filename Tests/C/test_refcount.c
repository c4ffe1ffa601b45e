/*
 * test_refcount.c: reference counts and callbacks: every retain balanced by a
 * release, callbacks that re-enter the store, and no lock held while
 * options.release runs.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ============================================================== refcount */

typedef struct reenter {
    harness *h;
    ctxs_slot *slot; /* the slot a hook writes to */
    uint64_t key;
    tracker *value;
    int ran; /* times the hook ran */
} reenter;

/* A release hook that writes to a slot: the store must not hold a lock. */
static void hook_slot_assoc(tracker *t, void *arg) {
    (void)t;
    reenter *re = arg;
    re->ran++;
    CHECK_EQ(ctxs_slot_assoc(re->slot, re->key, re->value), CTXS_OK);
}

/* A release hook that uses maps, slots and interning of the same store. */
static void hook_store_ops(tracker *t, void *arg) {
    (void)t;
    reenter *re = arg;
    re->ran++;
    ctxs_map *m = ctxs_map_new(re->h->store);
    assoc_in_place(&m, 4242, re->value);
    CHECK_EQ(ctxs_map_find(m, 4242, NULL), 1);
    ctxs_map_release(m);
    uint64_t id = 0;
    CHECK_EQ(ctxs_intern(re->h->store, "from a hook", 11, &id), CTXS_OK);
    void *v = NULL;
    if (re->slot != NULL && ctxs_slot_find(re->slot, re->key, &v) == 1) tv_put(re->h, v);
    ctxs_slot *s = ctxs_slot_create(re->h->store, NULL, re->slot);
    CHECK(s != NULL);
    ctxs_slot_release(s);
}

/* A retain callback that starts a reader of the same slot and waits up to
 * 20 ms for it: the reader must not deadlock with the callback. */
typedef struct lock_probe {
    ctxs_slot *slot;
    _Atomic int done;
    bool started;
    bool blocked;
    int ran;
    pthread_t thread;
} lock_probe;

static void *lock_probe_reader(void *arg) {
    lock_probe *lp = arg;
    (void)ctxs_slot_find(lp->slot, 1, NULL);
    atomic_store(&lp->done, 1);
    return NULL;
}

static void hook_lock_probe(tracker *t, void *arg) {
    (void)t;
    lock_probe *lp = arg;
    lp->ran++;
    if (pthread_create(&lp->thread, NULL, lock_probe_reader, lp) != 0) return;
    lp->started = true;
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 20 && !atomic_load(&lp->done); i++) nanosleep(&ms, NULL);
    lp->blocked = !atomic_load(&lp->done);
}

static void lock_probe_arm(lock_probe *lp, tracker *t, ctxs_slot *slot) {
    memset(lp, 0, sizeof *lp);
    lp->slot = slot;
    t->on_retain = hook_lock_probe;
    t->retain_hook_arg = lp;
}

static void lock_probe_finish(lock_probe *lp, tracker *t, const char *operation, int line) {
    t->on_retain = NULL;
    if (lp->started) pthread_join(lp->thread, NULL);
    check_report(__FILE__, line, lp->ran == 1, "%s: the retain callback ran %d times", operation,
                 lp->ran);
    /* options.retain may run under the slot's lock (CContextStore.h: a
     * reader must retain the value before a writer can free it), so the
     * probe's reader may have waited; it must get through once the
     * callback returns, which pthread_join above proves. */
}

void test_refcount(harness *h) {
    ctxs_store *s = h->store;
    ctxs_map *empty = ctxs_map_new(s);

    /* Replacing a key releases the old value when the last map holding it goes. */
    {
        tracker *a = tv_new(h, 1), *b = tv_new(h, 2);
        ctxs_map *m1 = NULL, *m2 = NULL;
        REQUIRE(ctxs_map_assoc(empty, 7, a, &m1) == CTXS_OK);
        CHECK_EQ(atomic_load(&a->retains), 1);
        CHECK_EQ(store_refs(a), 1);
        REQUIRE(ctxs_map_assoc(m1, 7, b, &m2) == CTXS_OK);
        CHECK_EQ(atomic_load(&a->releases), 0);
        void *v = NULL;
        CHECK(ctxs_map_find(m1, 7, &v) == 1 && v == a);
        CHECK(ctxs_map_find(m2, 7, &v) == 1 && v == b);
        ctxs_map *f = ctxs_map_fork(m2);
        CHECK_PTR_EQ(f, m2);
        ctxs_map_release(m1);
        CHECK_EQ(atomic_load(&a->releases), 1);
        CHECK_EQ(store_refs(a), 0);
        ctxs_map_release(m2);
        CHECK_EQ(atomic_load(&b->releases), 0);
        CHECK(ctxs_map_find(f, 7, &v) == 1 && v == b);
        ctxs_map_release(f);
        CHECK_EQ(atomic_load(&b->releases), 1);
        CHECK_EQ(atomic_load(&b->retains), 1);
        CHECK_EQ(store_refs(b), 0);
        tv_drop(a);
        tv_drop(b);
    }

    /* The same value pointer: the same map, nothing retained. */
    {
        tracker *a = tv_new(h, 3);
        ctxs_map *m3 = NULL, *m4 = NULL, *m5 = NULL;
        REQUIRE(ctxs_map_assoc(empty, 8, a, &m3) == CTXS_OK);
        uint64_t retains = atomic_load(&h->ledger.retains);
        uint64_t allocs = ctxs_store_allocation_count(s);
        REQUIRE(ctxs_map_assoc(m3, 8, a, &m4) == CTXS_OK);
        CHECK_PTR_EQ(m4, m3);
        CHECK_EQ(atomic_load(&h->ledger.retains), retains);
        CHECK_EQ(ctxs_store_allocation_count(s), allocs);
        ctxs_map_release(m4);
        CHECK_EQ(ctxs_map_count(m3), 1);
        /* The same value under two keys: two entries, two retains. */
        REQUIRE(ctxs_map_assoc(m3, 9, a, &m5) == CTXS_OK);
        CHECK_EQ(atomic_load(&a->retains), 2);
        ctxs_map_release(m3);
        CHECK_EQ(atomic_load(&a->releases), 0);
        ctxs_map_release(m5);
        CHECK_EQ(atomic_load(&a->releases), 2);
        CHECK_EQ(store_refs(a), 0);
        tv_drop(a);
    }

    /* Structural sharing: one retain per entry, however many maps share it. */
    {
        enum { N = 40 };
        tracker *c[N];
        ctxs_map *base = ctxs_map_new(s);
        for (int i = 0; i < N; i++) {
            c[i] = tv_new(h, 100 + (uint64_t)i);
            assoc_in_place(&base, (uint64_t)i, c[i]);
        }
        tracker *d = tv_new(h, 200);
        ctxs_map *derived = NULL, *w = NULL;
        REQUIRE(ctxs_map_assoc(base, 100, d, &derived) == CTXS_OK);
        REQUIRE(ctxs_map_without(base, 5, &w) == CTXS_OK);
        for (int i = 0; i < N; i++) {
            CHECKF(atomic_load(&c[i]->retains) == 1, "value %d retained %lld times", i,
                   (long long)atomic_load(&c[i]->retains));
            CHECK_EQ(atomic_load(&c[i]->releases), 0);
        }
        ctxs_map_release(base);
        CHECK_EQ(atomic_load(&c[5]->releases), 0); /* derived holds it */
        ctxs_map_release(derived);
        CHECK_EQ(atomic_load(&c[5]->releases), 1);
        CHECK_EQ(atomic_load(&d->releases), 1);
        CHECK_EQ(atomic_load(&c[6]->releases), 0); /* w holds it */
        ctxs_map_release(w);
        for (int i = 0; i < N; i++) {
            CHECK_EQ(atomic_load(&c[i]->releases), 1);
            tv_drop(c[i]);
        }
        tv_drop(d);
    }

    /* Through a slot: replace releases at once, unless a snapshot holds it. */
    {
        ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(slot != NULL);
        tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *c = tv_new(h, 3);
        CHECK_EQ(ctxs_slot_assoc(slot, 1, a), CTXS_OK);
        CHECK_EQ(ctxs_slot_assoc(slot, 1, b), CTXS_OK);
        CHECK_EQ(atomic_load(&a->releases), 1);
        ctxs_map *snap = NULL;
        CHECK_EQ(ctxs_slot_snapshot(slot, &snap), CTXS_OK);
        CHECK_EQ(ctxs_slot_assoc(slot, 1, c), CTXS_OK);
        CHECK_EQ(atomic_load(&b->releases), 0);
        void *v = NULL;
        CHECK(snap != NULL && ctxs_map_find(snap, 1, &v) == 1 && v == b);
        ctxs_map_release(snap);
        CHECK_EQ(atomic_load(&b->releases), 1);
        CHECK_EQ(ctxs_slot_without(slot, 1), CTXS_OK);
        CHECK_EQ(atomic_load(&c->releases), 1);
        ctxs_slot_release(slot);
        tv_drop(a);
        tv_drop(b);
        tv_drop(c);
    }

    /* A retain callback that reads the same slot from another thread does
     * not deadlock. */
    {
        ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(slot != NULL);
        tracker *a = tv_new(h, 20), *b = tv_new(h, 21);
        lock_probe lp;
        lock_probe_arm(&lp, a, slot);
        CHECK_EQ(ctxs_slot_assoc(slot, 1, a), CTXS_OK);
        lock_probe_finish(&lp, a, "ctxs_slot_assoc", __LINE__);
        void *v = NULL;
        lock_probe_arm(&lp, a, slot);
        CHECK(ctxs_slot_find(slot, 1, &v) == 1 && v == a);
        lock_probe_finish(&lp, a, "ctxs_slot_find", __LINE__);
        if (v != NULL) tv_put(h, v);
        ctxs_slot *child = ctxs_slot_create(s, NULL, slot);
        REQUIRE(child != NULL);
        lock_probe_arm(&lp, b, child);
        CHECK_EQ(ctxs_slot_assoc(child, 2, b), CTXS_OK);
        lock_probe_finish(&lp, b, "ctxs_slot_assoc (chained)", __LINE__);
        /* A chained snapshot shares the layers' entries: no value is retained. */
        ctxs_map *snap = NULL;
        long b_retains = atomic_load(&b->retains);
        CHECK_EQ(ctxs_slot_snapshot(child, &snap), CTXS_OK);
        CHECK_EQ(atomic_load(&b->retains), b_retains);
        ctxs_map_release(snap);
        ctxs_slot_release(child);
        ctxs_slot_release(slot);
        tv_drop(a);
        tv_drop(b);
    }

    /* Callbacks may re-enter the store. */
    {
        ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(slot != NULL);
        tracker *x = tv_new(h, 10), *w = tv_new(h, 11), *y = tv_new(h, 12);
        reenter re1 = {h, slot, 2, x, 0};
        tracker *r1 = tv_new(h, 13);
        r1->on_release = hook_slot_assoc;
        r1->hook_arg = &re1;
        CHECK_EQ(ctxs_slot_assoc(slot, 1, r1), CTXS_OK);
        tv_drop(r1);
        /* Replacing r1 frees the slot's old map, so r1's hook runs and writes. */
        CHECK_EQ(ctxs_slot_assoc(slot, 1, w), CTXS_OK);
        CHECK_EQ(re1.ran, 1);
        void *v = NULL;
        CHECK(ctxs_slot_find(slot, 1, &v) == 1 && v == w);
        if (v != NULL) tv_put(h, v);
        v = NULL;
        CHECK(ctxs_slot_find(slot, 2, &v) == 1 && v == x);
        if (v != NULL) tv_put(h, v);

        /* A map release whose value's hook uses maps, slots and interning. */
        reenter re2 = {h, slot, 2, y, 0};
        tracker *r2 = tv_new(h, 14);
        r2->on_release = hook_store_ops;
        r2->hook_arg = &re2;
        ctxs_map *m = NULL;
        CHECK_EQ(ctxs_map_assoc(empty, 3, r2, &m), CTXS_OK);
        tv_drop(r2);
        ctxs_map_release(m);
        CHECK_EQ(re2.ran, 1);

        /* ctxs_slot_clear and the last ctxs_slot_release run hooks too. */
        reenter re3 = {h, slot, 5, y, 0};
        tracker *r3 = tv_new(h, 15);
        r3->on_release = hook_store_ops;
        r3->hook_arg = &re3;
        CHECK_EQ(ctxs_slot_assoc(slot, 4, r3), CTXS_OK);
        tv_drop(r3);
        CHECK_EQ(ctxs_slot_clear(slot), CTXS_OK);
        CHECK_EQ(re3.ran, 1);

        ctxs_slot *other = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(other != NULL);
        reenter re4 = {h, other, 6, y, 0};
        tracker *r4 = tv_new(h, 16);
        r4->on_release = hook_slot_assoc;
        r4->hook_arg = &re4;
        CHECK_EQ(ctxs_slot_assoc(slot, 4, r4), CTXS_OK);
        tv_drop(r4);
        ctxs_slot_release(slot);
        CHECK_EQ(re4.ran, 1);
        v = NULL;
        CHECK(ctxs_slot_find(other, 6, &v) == 1 && v == y);
        if (v != NULL) tv_put(h, v);
        ctxs_slot_release(other);
        tv_drop(x);
        tv_drop(w);
        tv_drop(y);
    }
    ctxs_map_release(empty);
}
