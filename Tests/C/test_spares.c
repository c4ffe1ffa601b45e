/*
 * test_spares.c: spares: each thread's parked object, taken back by its thread,
 * released when the thread exits or the store is destroyed.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================== spares */

/* options.release of the spare store below: its values are slots. */
static void release_slot(void *context, void *value) {
    (void)context;
    ctxs_slot_release(value);
}

typedef struct park_and_wait {
    ctxs_store *store;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int parked, go;
} park_and_wait;

/* Parks a spare, then waits for the go-ahead before exiting. */
static void *park_then_wait(void *arg) {
    park_and_wait *p = arg;
    ctxs_slot *slot = ctxs_slot_create(p->store, NULL, NULL);
    if (CHECK(slot != NULL) && CHECK_EQ(ctxs_slot_recycle(slot), 1)) {
        CHECK_EQ(ctxs_thread_spare_put(p->store, slot), 1);
    }
    pthread_mutex_lock(&p->lock);
    p->parked = 1;
    pthread_cond_broadcast(&p->cond);
    while (!p->go) pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void *park_and_exit(void *store) {
    ctxs_slot *slot = ctxs_slot_create(store, NULL, NULL);
    if (CHECK(slot != NULL) && CHECK_EQ(ctxs_slot_recycle(slot), 1)) {
        CHECK_EQ(ctxs_thread_spare_put(store, slot), 1);
    }
    return NULL; /* the thread's exit releases the parked slot */
}

void test_spares(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2);

    /* recycle empties a slot only its caller holds, and releases now. */
    ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(slot != NULL);
    REQUIRE(ctxs_slot_assoc(slot, 7, a) == CTXS_OK);
    ctxs_map *memo_map = NULL;
    REQUIRE(ctxs_slot_snapshot(slot, &memo_map) == CTXS_OK);
    CHECK_EQ(ctxs_slot_memo_set(slot, memo_map, b), 1);
    ctxs_map_release(memo_map);
    CHECK_EQ(store_refs(a), 1);
    CHECK_EQ(store_refs(b), 1);
    CHECK_EQ(ctxs_slot_recycle(slot), 1);
    CHECK_EQ(store_refs(a), 0); /* the map went */
    CHECK_EQ(store_refs(b), 0); /* and the memo */
    CHECK_EQ(stats_of(s).live_values, 0);
    CHECK_EQ(ctxs_slot_recycle(slot), 0); /* nothing left to recycle */
    /* reset gives it contents again; it is an ordinary slot after that. */
    ctxs_map *m = NULL;
    REQUIRE(ctxs_map_assoc(ctxs_map_new(s), 9, b, &m) == CTXS_OK || (m = NULL, false));
    CHECK_EQ(ctxs_slot_reset(slot, m), CTXS_OK); /* takes over m */
    void *got = NULL;
    CHECK(ctxs_slot_find(slot, 9, &got) == 1 && got == b);
    if (got != NULL) tv_put(h, got);
    CHECK_EQ(ctxs_slot_find(slot, 7, NULL), 0);
    CHECK_EQ(ctxs_slot_assoc(slot, 7, a), CTXS_OK);
    ctxs_map *other = ctxs_map_new(s);
    CHECK_EQ(ctxs_slot_reset(slot, other), CTXS_EINVAL); /* not recycled: nothing taken */
    ctxs_map_release(other);

    /* Another holder, a live chained child, or being chained: refused. */
    ctxs_slot_retain(slot);
    CHECK_EQ(ctxs_slot_recycle(slot), 0);
    ctxs_slot_release(slot);
    ctxs_slot *child = ctxs_slot_create(s, NULL, slot);
    REQUIRE(child != NULL);
    CHECK_EQ(ctxs_slot_recycle(slot), 0);
    CHECK_EQ(ctxs_slot_recycle(child), 0);
    CHECK(ctxs_slot_find(child, 7, &got) == 1 && got == a); /* unchanged */
    if (got != NULL) tv_put(h, got);
    ctxs_slot_release(child);
    /* Once the child is gone the parent recycles, forgetting its lineage;
     * a new child of the reset slot reads through it. */
    CHECK_EQ(ctxs_slot_recycle(slot), 1);
    CHECK_EQ(store_refs(a), 0);
    CHECK_EQ(ctxs_slot_reset(slot, ctxs_map_new(s)), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(slot, 3, a), CTXS_OK);
    child = ctxs_slot_create(s, NULL, slot);
    REQUIRE(child != NULL);
    CHECK(ctxs_slot_find(child, 3, &got) == 1 && got == a);
    if (got != NULL) tv_put(h, got);
    ctxs_slot_release(child);
    ctxs_slot_release(slot);

    /* ctxs_slot_adopt takes over the caller's map reference, or nothing. */
    {
        ctxs_map *m1 = NULL, *e = ctxs_map_new(s);
        REQUIRE(ctxs_map_assoc(e, 4, a, &m1) == CTXS_OK);
        ctxs_map_release(e);
        CHECK(ctxs_slot_adopt(s, NULL) == NULL);
        ctxs_store *elsewhere = other_store(h);
        REQUIRE(elsewhere != NULL);
        CHECK(ctxs_slot_adopt(elsewhere, m1) == NULL);
        CHECK_EQ(ctxs_store_destroy(elsewhere), CTXS_OK);
        ctxs_store_fail_allocation(s, 1);
        CHECK(ctxs_slot_adopt(s, m1) == NULL);
        ctxs_store_fail_allocation(s, 0);
        CHECK_EQ(store_refs(a), 1); /* m1 still the caller's */
        ctxs_slot *adopted = ctxs_slot_adopt(s, m1);
        REQUIRE(adopted != NULL);
        void *got = NULL;
        CHECK(ctxs_slot_find(adopted, 4, &got) == 1 && got == a);
        if (got != NULL) tv_put(h, got);
        ctxs_slot_release(adopted); /* releases m1, the only reference */
        CHECK_EQ(store_refs(a), 0);
        CHECK_EQ(stats_of(s).live_roots, 0);
    }

    /* Spares: one per thread; statistics leave them out; the store's
     * teardown and the thread's exit release them. */
    ctxs_store_options options = {.release = release_slot, .backend = h->backend};
    ctxs_store *t = ctxs_store_create(&options);
    REQUIRE(t != NULL);
    CHECK(ctxs_thread_spare_take(t) == NULL);
    ctxs_slot *p1 = ctxs_slot_create(t, NULL, NULL), *p2 = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(p1 != NULL && p2 != NULL);
    ctxs_statistics before = stats_of(t);
    CHECK_EQ(before.live_slots, 2);
    CHECK_EQ(ctxs_slot_recycle(p1), 1);
    CHECK_EQ(ctxs_thread_spare_put(t, p1), 1);
    CHECK_EQ(ctxs_thread_spare_put(t, p2), 0); /* one per thread */
    CHECK_EQ(ctxs_thread_spare_put(t, NULL), 0);
    ctxs_statistics parked = stats_of(t);
    CHECK_EQ(parked.live_slots, 1);
    CHECK_EQ(parked.spare_slots, 1);
    CHECK(parked.bytes_in_use < before.bytes_in_use);
    CHECK_PTR_EQ(ctxs_thread_spare_take(t), p1);
    CHECK(ctxs_thread_spare_take(t) == NULL);
    CHECK_EQ(stats_of(t).spare_slots, 0);
    CHECK_EQ(stats_of(t).live_slots, 2);
    CHECK_EQ(stats_of(t).bytes_in_use, before.bytes_in_use);
    CHECK_EQ(ctxs_slot_reset(p1, ctxs_map_new(t)), CTXS_OK);
    ctxs_slot_release(p1);
    /* A thread that parks a slot and exits releases it. */
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, park_and_exit, t) == 0);
    pthread_join(thread, NULL);
    CHECK_EQ(stats_of(t).spare_slots, 0);
    CHECK_EQ(stats_of(t).live_slots, 1);
    /* A destroy refused as busy releases the spares (this thread's and a
     * live thread's) but leaves the store working: spares can be parked
     * again, and the other thread can exit later. */
    park_and_wait waiter = {.store = t, .parked = 0, .go = 0};
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.cond, NULL);
    REQUIRE(pthread_create(&thread, NULL, park_then_wait, &waiter) == 0);
    pthread_mutex_lock(&waiter.lock);
    while (!waiter.parked) pthread_cond_wait(&waiter.cond, &waiter.lock);
    pthread_mutex_unlock(&waiter.lock);
    CHECK_EQ(ctxs_slot_recycle(p2), 1);
    CHECK_EQ(ctxs_thread_spare_put(t, p2), 1);
    CHECK_EQ(stats_of(t).spare_slots, 2);
    /* Something live keeps the store busy: a map whose value (this store's
     * values are slots) is a slot, which the map's release frees. */
    ctxs_slot *held = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(held != NULL);
    ctxs_map *empty = ctxs_map_new(t), *busy = NULL;
    REQUIRE(ctxs_map_assoc(empty, 1, held, &busy) == CTXS_OK);
    ctxs_map_release(empty);
    CHECK_EQ(ctxs_store_destroy(t), CTXS_EBUSY);
    CHECK_EQ(stats_of(t).spare_slots, 0);
    CHECK_EQ(stats_of(t).live_slots, 1);
    ctxs_slot *p3 = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(p3 != NULL);
    CHECK_EQ(ctxs_slot_recycle(p3), 1);
    CHECK_EQ(ctxs_thread_spare_put(t, p3), 1);
    CHECK_PTR_EQ(ctxs_thread_spare_take(t), p3);
    CHECK_EQ(ctxs_thread_spare_put(t, p3), 1);
    pthread_mutex_lock(&waiter.lock);
    waiter.go = 1;
    pthread_cond_broadcast(&waiter.cond);
    pthread_mutex_unlock(&waiter.lock);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&waiter.cond);
    pthread_mutex_destroy(&waiter.lock);
    ctxs_map_release(busy); /* and with it `held` */
    CHECK_EQ(stats_of(t).live_slots, 0);
    /* The store's teardown releases this thread's spare. */
    CHECK_EQ(ctxs_store_destroy(t), CTXS_OK);

    tv_drop(a);
    tv_drop(b);
}

/* The fused calls of `run(inheriting: .copy)`: a scope's end recycles and
 * parks its slot, and the next scope's start takes it back borrowing the
 * enclosing scope's map. This store's values are slots (release_slot). */
void test_spare_borrowing(harness *h) {
    ctxs_store_options options = {.release = release_slot, .backend = h->backend};
    ctxs_store *t = ctxs_store_create(&options);
    REQUIRE(t != NULL);
    ctxs_slot *value = ctxs_slot_create(t, NULL, NULL), *other = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(value != NULL && other != NULL);
    ctxs_map *empty = ctxs_map_new(t), *lent = NULL;
    REQUIRE(ctxs_map_assoc(empty, 1, value, &lent) == CTXS_OK); /* lent holds `value` */
    ctxs_map_release(empty);
    ctxs_slot *lender = ctxs_slot_adopt(t, lent);
    REQUIRE(lender != NULL);
    CHECK(ctxs_thread_spare_take_borrowing(t, lender) == NULL); /* no spare yet */

    /* Parked by a recycle, then taken back over the lender's map. */
    ctxs_slot *p = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(p != NULL);
    CHECK_EQ(ctxs_thread_spare_recycle(t, p, p), 1);
    CHECK_EQ(stats_of(t).spare_slots, 1);
    CHECK_PTR_EQ(ctxs_thread_spare_take_borrowing(t, lender), p);
    CHECK_EQ(stats_of(t).spare_slots, 0);
    void *got = NULL;
    CHECK(ctxs_slot_find(p, 1, &got) == 1 && got == value);
    size_t live = stats_of(t).live_slots;
    /* A write copies; the next recycle releases only what p made. */
    CHECK_EQ(ctxs_slot_assoc(p, 2, other), CTXS_OK);
    CHECK_EQ(ctxs_thread_spare_recycle(t, p, p), 1);
    CHECK_EQ(stats_of(t).live_slots, live - 2); /* `other` and p itself (a spare now) */
    CHECK(ctxs_slot_find(lender, 1, &got) == 1 && got == value);

    /* A written lender lends nothing, and the spare stays parked. */
    ctxs_slot *third = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(third != NULL);
    CHECK_EQ(ctxs_slot_assoc(lender, 3, third), CTXS_OK);
    CHECK(ctxs_thread_spare_take_borrowing(t, lender) == NULL);
    CHECK_PTR_EQ(ctxs_thread_spare_take(t), p);
    /* Taken back by a plain take: the cell still names p's slot, but
     * nothing is parked, so nothing is taken (and p, recycled, is not
     * reset: ctxs_thread_spare_put below accepts it). */
    ctxs_slot *fresh = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(fresh != NULL);
    CHECK(ctxs_thread_spare_take_borrowing(t, fresh) == NULL);

    /* A spare parked by ctxs_thread_spare_put (its slot unknown) is not
     * taken borrowing. */
    CHECK_EQ(ctxs_thread_spare_put(t, p), 1);
    CHECK(ctxs_thread_spare_take_borrowing(t, fresh) == NULL);
    CHECK_PTR_EQ(ctxs_thread_spare_take(t), p);

    /* A lender of another store lends nothing here, and the spare stays. */
    ctxs_store *u = ctxs_store_create(&options);
    REQUIRE(u != NULL);
    ctxs_slot *foreign = ctxs_slot_create(u, NULL, NULL), *q = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(foreign != NULL && q != NULL);
    CHECK_EQ(ctxs_thread_spare_recycle(t, q, q), 1);
    CHECK(ctxs_thread_spare_take_borrowing(t, foreign) == NULL);
    CHECK_EQ(stats_of(t).spare_slots, 1);
    CHECK_PTR_EQ(ctxs_thread_spare_take(t), q);
    ctxs_slot_release(q); /* recycled: nothing else to release */
    ctxs_slot_release(foreign);
    CHECK_EQ(ctxs_store_destroy(u), CTXS_OK);

    /* Another holder: not recycled, not parked, and the borrowed map is
     * the slot's own from then on, so it outlives the lender. */
    ctxs_map *base = NULL;
    CHECK_EQ(ctxs_slot_borrow_base(lender, &base), 0); /* written above */
    ctxs_map *second = NULL;
    REQUIRE(ctxs_slot_snapshot(lender, &second) == CTXS_OK);
    ctxs_slot *lender2 = ctxs_slot_adopt(t, second);
    REQUIRE(lender2 != NULL);
    CHECK_EQ(ctxs_slot_borrow_base(lender2, &base), 1);
    CHECK_EQ(ctxs_slot_reset_borrowed(p, base), CTXS_OK);
    ctxs_slot_retain(p);
    CHECK_EQ(ctxs_thread_spare_recycle(t, p, p), 0);
    ctxs_slot_release(lender2);
    ctxs_slot_release(lender);
    CHECK(ctxs_slot_find(p, 3, &got) == 1 && got == third);
    CHECK(ctxs_slot_find(p, 1, &got) == 1 && got == value);

    /* Once `fresh` is parked, this thread has a spare: p is recycled but
     * not parked. */
    CHECK_EQ(ctxs_thread_spare_recycle(t, fresh, fresh), 1);
    ctxs_slot_release(p);
    CHECK_EQ(ctxs_thread_spare_recycle(t, p, p), 0);
    /* Emptied all the same: `value` and `third` went with the last map
     * holding them; p is the caller's still. */
    CHECK_EQ(stats_of(t).live_slots, 1);
    ctxs_slot_release(p);
    CHECK_EQ(stats_of(t).live_slots, 0);

    /* A recycle takes no lock, but refuses a slot whose lock a read still
     * holds; it releases a memo, and a lineage a chained child left. */
    size_t bytes = stats_of(t).bytes_in_use;
    q = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(q != NULL);
    size_t one_slot = stats_of(t).bytes_in_use - bytes;
    ctxs_slot *entry = ctxs_slot_create(t, NULL, NULL), *memo = ctxs_slot_create(t, NULL, NULL);
    REQUIRE(entry != NULL && memo != NULL);
    CHECK_EQ(ctxs_slot_assoc(q, 5, entry), CTXS_OK); /* q takes `entry` (no retain callback) */
    void *raw = NULL;
    ctxs_slot *held = NULL;
    CHECK_EQ(ctxs_slot_read_begin(q, 5, &raw, &held), 1);
    CHECK_EQ(ctxs_slot_recycle(q), 0);
    ctxs_slot_read_end(held);
    ctxs_slot *child = ctxs_slot_create(t, NULL, q);
    REQUIRE(child != NULL);
    ctxs_slot_release(child);
    ctxs_map *contents = NULL;
    REQUIRE(ctxs_slot_snapshot(q, &contents) == CTXS_OK);
    CHECK_EQ(ctxs_slot_memo_set(q, contents, memo), 1); /* q takes `memo` too */
    ctxs_map_release(contents);
    CHECK_EQ(ctxs_thread_spare_recycle(t, q, q), 0);      /* recycled; `fresh` is parked */
    CHECK_EQ(stats_of(t).live_slots, 1);                  /* q alone: `entry` and `memo` went */
    CHECK_EQ(stats_of(t).bytes_in_use, bytes + one_slot); /* and the lineage */
    ctxs_slot_release(q);
    CHECK_EQ(stats_of(t).live_slots, 0);
    CHECK_EQ(ctxs_store_destroy(t), CTXS_OK); /* releases `fresh`, the spare */
}
