/*
 * test_threads.c: threads: writers and readers on shared slots, forks from
 * many threads, and interning under contention (for TSan to watch).
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =============================================================== threads */

enum { THREADS = 4, SLOT_KEYS_PER_THREAD = 2000 };

typedef struct slot_worker {
    harness *h;
    ctxs_slot *slot; /* where this thread writes */
    ctxs_slot *view; /* where this thread reads (the slot, or a child of it) */
    int index;
    pthread_t thread;
} slot_worker;

static uint64_t worker_key(int thread, int i) {
    return splitmix64(((uint64_t)thread << 32) | (uint64_t)i);
}

/* Key i of a thread is removed again when i % 4 == 2. */
static bool worker_key_kept(int i) { return i % 4 != 2; }

static void *slot_writer(void *arg) {
    slot_worker *w = arg;
    harness *h = w->h;
    rng r = {0x7000 + (uint64_t)w->index};
    for (int i = 0; i < SLOT_KEYS_PER_THREAD; i++) {
        uint64_t key = worker_key(w->index, i);
        tracker *value = tv_new(h, key);
        if (!CHECK_EQ(ctxs_slot_assoc(w->slot, key, value), CTXS_OK)) {
            tv_drop(value);
            break;
        }
        tv_drop(value);
        void *got = NULL;
        if (!CHECKF(ctxs_slot_find(w->view, key, &got) == 1 && tv_id(got) == key,
                    "thread %d: lost key %d right after writing it", w->index, i))
            break;
        tv_put(h, got);
        if (i % 4 == 3) {
            uint64_t gone = worker_key(w->index, i - 1);
            CHECK_EQ(ctxs_slot_without(w->slot, gone), CTXS_OK);
            CHECK_EQ(ctxs_slot_find(w->view, gone, NULL), 0);
        }
        if (i % 16 == 0) {
            int other = (int)rng_below(&r, THREADS);
            uint64_t k = worker_key(other, (int)rng_below(&r, SLOT_KEYS_PER_THREAD));
            got = NULL;
            if (ctxs_slot_find(w->view, k, &got) == 1) {
                CHECKF(tv_id(got) == k, "thread %d: key with another key's value", w->index);
                tv_put(h, got);
            }
        }
        if (i % 32 == 0) {
            ctxs_map *snap = NULL;
            if (CHECK_EQ(ctxs_slot_snapshot(w->view, &snap), CTXS_OK)) {
                got = NULL;
                CHECKF(ctxs_map_find(snap, key, &got) == 1 && tv_id(got) == key,
                       "thread %d: snapshot lacks key %d", w->index, i);
                if (i % 256 == 0) CHECK_EQ(ctxs_map_check(snap), 1);
                ctxs_map_release(snap);
            }
        }
    }
    return NULL;
}

typedef struct slot_reader {
    harness *h;
    ctxs_slot *view;
    _Atomic int *stop;
    long rounds;
    pthread_t thread;
} slot_reader;

static void *slot_reader_run(void *arg) {
    slot_reader *rd = arg;
    rng r = {0x8000};
    while (!atomic_load(rd->stop)) {
        ctxs_map *snap = NULL;
        if (!CHECK_EQ(ctxs_slot_snapshot(rd->view, &snap), CTXS_OK)) break;
        ctxs_map_iter it;
        uint64_t key;
        void *value;
        size_t n = 0;
        ctxs_map_iter_init(&it, snap);
        while (ctxs_map_iter_next(&it, &key, &value) && n < 200) {
            CHECKF(tv_id(value) == key, "reader: key 0x%llx with another key's value", ull(key));
            n++;
        }
        ctxs_map_release(snap);
        uint64_t k =
            worker_key((int)rng_below(&r, THREADS), (int)rng_below(&r, SLOT_KEYS_PER_THREAD));
        void *got = NULL;
        if (ctxs_slot_find(rd->view, k, &got) == 1) {
            CHECK(tv_id(got) == k);
            tv_put(rd->h, got);
        }
        rd->rounds++;
    }
    return NULL;
}

/* Runs THREADS writers and one reader; writer i writes to slot_of[i] and
 * reads through `view`. Then checks that `view` has every kept key. */
static void run_slot_threads(harness *h, ctxs_slot *const *slot_of, ctxs_slot *view) {
    slot_worker w[THREADS];
    slot_reader rd;
    _Atomic int stop = 0;
    rd.h = h;
    rd.view = view;
    rd.stop = &stop;
    rd.rounds = 0;
    bool reader = pthread_create(&rd.thread, NULL, slot_reader_run, &rd) == 0;
    CHECK(reader);
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i].h = h;
        w[i].slot = slot_of[i];
        w[i].view = view;
        w[i].index = i;
        if (!CHECK(pthread_create(&w[i].thread, NULL, slot_writer, &w[i]) == 0)) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(w[i].thread, NULL);
    atomic_store(&stop, 1);
    if (reader) pthread_join(rd.thread, NULL);

    ctxs_map *snap = NULL;
    if (!CHECK_EQ(ctxs_slot_snapshot(view, &snap), CTXS_OK)) return;
    size_t expected = 0, lost = 0;
    for (int t = 0; t < started; t++) {
        for (int i = 0; i < SLOT_KEYS_PER_THREAD; i++) {
            uint64_t key = worker_key(t, i);
            void *got = NULL;
            int found = ctxs_map_find(snap, key, &got);
            if (worker_key_kept(i)) {
                expected++;
                if (found != 1 || tv_id(got) != key) lost++;
            } else if (found != 0) {
                lost++;
            }
        }
    }
    CHECKF(lost == 0, "%zu keys lost or resurrected by concurrent writers", lost);
    CHECK_EQ(ctxs_map_count(snap), expected);
    CHECK_EQ(ctxs_map_check(snap), 1);
    ctxs_map_release(snap);
}

void test_threads_slot(harness *h) {
    ctxs_store *s = h->store;
    /* All four into one plain slot. */
    {
        ctxs_slot *slot = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(slot != NULL);
        ctxs_slot *slot_of[THREADS] = {slot, slot, slot, slot};
        run_slot_threads(h, slot_of, slot);
        ctxs_slot_release(slot);
    }
    /* Two into a parent, two into its child; everything read through the child. */
    {
        ctxs_slot *parent = ctxs_slot_create(s, NULL, NULL);
        REQUIRE(parent != NULL);
        ctxs_slot *child = ctxs_slot_create(s, NULL, parent);
        REQUIRE(child != NULL);
        ctxs_slot *slot_of[THREADS] = {parent, child, parent, child};
        run_slot_threads(h, slot_of, child);
        ctxs_slot_release(child);
        ctxs_slot_release(parent);
    }
}

enum { FORK_KEYS = 256, FORK_ROUNDS = 20000 };

typedef struct fork_worker {
    harness *h;
    ctxs_map *shared;
    tracker **values; /* values[k] is the shared map's value of key k */
    int index;
    pthread_t thread;
} fork_worker;

static void *fork_run(void *arg) {
    fork_worker *w = arg;
    rng r = {0x9000 + (uint64_t)w->index};
    for (int i = 0; i < FORK_ROUNDS; i++) {
        ctxs_map *f = ctxs_map_fork(w->shared);
        if (!CHECK(f == w->shared)) break;
        uint64_t key = rng_below(&r, FORK_KEYS + 44);
        void *got = NULL;
        int found = ctxs_map_find(f, key, &got);
        if (key < FORK_KEYS)
            CHECKF(found == 1 && got == w->values[key], "thread %d: key %llu lost", w->index,
                   ull(key));
        else
            CHECK_EQ(found, 0);
        if (i % 4 == 0) {
            tracker *fresh = tv_new(w->h, key);
            ctxs_map *m2 = NULL;
            if (CHECK_EQ(ctxs_map_assoc(f, key, fresh, &m2), CTXS_OK)) {
                CHECK(ctxs_map_find(m2, key, &got) == 1 && got == fresh);
                ctxs_map_release(m2);
            }
            tv_drop(fresh);
        } else if (i % 4 == 1) {
            ctxs_map *m3 = NULL;
            if (CHECK_EQ(ctxs_map_without(f, key, &m3), CTXS_OK)) {
                CHECK_EQ(ctxs_map_count(m3), key < FORK_KEYS ? FORK_KEYS - 1 : FORK_KEYS);
                ctxs_map_release(m3);
            }
        }
        if (i % 512 == 0) CHECK_EQ(ctxs_map_check(f), 1);
        ctxs_map_release(f);
    }
    return NULL;
}

void test_threads_fork(harness *h) {
    tracker *values[FORK_KEYS];
    model m = {0};
    ctxs_map *shared = ctxs_map_new(h->store);
    for (uint64_t k = 0; k < FORK_KEYS; k++) {
        values[k] = tv_new(h, k);
        assoc_in_place(&shared, k, values[k]);
        model_set(&m, k, values[k]);
    }
    fork_worker w[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i].h = h;
        w[i].shared = shared;
        w[i].values = values;
        w[i].index = i;
        if (!CHECK(pthread_create(&w[i].thread, NULL, fork_run, &w[i]) == 0)) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(w[i].thread, NULL);
    MAP_EQUALS(shared, &m);
    ctxs_statistics st = stats_of(h->store);
    CHECK_EQ(st.live_roots, 1);
    CHECK_EQ(st.live_values, FORK_KEYS);
    CHECK_EQ(st.live_nodes, ctxs_map_node_count(shared));
    ctxs_map_release(shared);
    for (int k = 0; k < FORK_KEYS; k++) {
        CHECK_EQ(atomic_load(&values[k]->retains), 1);
        CHECK_EQ(atomic_load(&values[k]->releases), 1);
        tv_drop(values[k]);
    }
    model_free(&m);
}

enum { INTERN_SHARED = 2000, INTERN_OWN = 500 };

typedef struct intern_worker {
    ctxs_store *store;
    int index;
    uint64_t *shared_ids; /* [INTERN_SHARED] */
    uint64_t *own_ids;    /* [INTERN_OWN] */
    pthread_t thread;
} intern_worker;

static void *intern_run(void *arg) {
    intern_worker *w = arg;
    char name[48];
    for (int n = 0; n < INTERN_SHARED; n++) {
        /* Each thread walks the shared names in its own order. */
        int d = w->index % 2 ? INTERN_SHARED - 1 - n : n;
        d = (d + w->index * 397) % INTERN_SHARED;
        int length = snprintf(name, sizeof name, "shared.%d", d);
        CHECK_EQ(ctxs_intern(w->store, name, (size_t)length, &w->shared_ids[d]), CTXS_OK);
        if (n < INTERN_OWN) {
            length = snprintf(name, sizeof name, "own.%d.%d", w->index, n);
            CHECK_EQ(ctxs_intern(w->store, name, (size_t)length, &w->own_ids[n]), CTXS_OK);
        }
    }
    return NULL;
}

void test_threads_intern(harness *h) {
    intern_worker w[THREADS];
    uint64_t *ids = xcalloc((size_t)THREADS * (INTERN_SHARED + INTERN_OWN), sizeof *ids);
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i].store = h->store;
        w[i].index = i;
        w[i].shared_ids = ids + (size_t)i * (INTERN_SHARED + INTERN_OWN);
        w[i].own_ids = w[i].shared_ids + INTERN_SHARED;
        if (!CHECK(pthread_create(&w[i].thread, NULL, intern_run, &w[i]) == 0)) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(w[i].thread, NULL);
    REQUIRE(started == THREADS);
    size_t mismatches = 0;
    for (int d = 0; d < INTERN_SHARED; d++)
        for (int i = 1; i < THREADS; i++) mismatches += w[i].shared_ids[d] != w[0].shared_ids[d];
    CHECKF(mismatches == 0, "%zu shared names got different ids in different threads", mismatches);
    /* Distinct names, distinct ids. */
    size_t total = INTERN_SHARED + (size_t)THREADS * INTERN_OWN;
    uint64_t *all = xcalloc(total, sizeof *all);
    memcpy(all, w[0].shared_ids, INTERN_SHARED * sizeof *all);
    for (int i = 0; i < THREADS; i++)
        memcpy(all + INTERN_SHARED + (size_t)i * INTERN_OWN, w[i].own_ids,
               INTERN_OWN * sizeof *all);
    CHECK_EQ(sort_unique_u64(all, total), total);
    CHECK_EQ(stats_of(h->store).interned_keys, total);
    char name[48];
    for (int d = 0; d < INTERN_SHARED; d += 97) {
        int length = snprintf(name, sizeof name, "shared.%d", d);
        CHECK(name_is(h->store, w[0].shared_ids[d], name, (size_t)length));
    }
    free(all);
    free(ids);
}

/* ======================================================== untouched slots */

enum { UNTOUCHED_KEYS = 64, UNTOUCHED_READERS = 3, UNTOUCHED_READS = 20000 };

typedef struct untouched_run {
    harness *h;
    ctxs_slot *slot;
    tracker *before[UNTOUCHED_KEYS]; /* each key's value in the slot's first map */
    tracker *after[UNTOUCHED_KEYS];  /* each key's value after the writer's pass */
    _Atomic int started;             /* readers that have begun */
} untouched_run;

/* Reads a slot nobody had written when it began, while the writer makes the
 * first writes: every read sees a key's value from before or after. */
static void *untouched_reader(void *arg) {
    untouched_run *u = arg;
    rng r = {0xA000 + (uint64_t)atomic_fetch_add(&u->started, 1)};
    for (int i = 0; i < UNTOUCHED_READS; i++) {
        uint64_t key = rng_below(&r, UNTOUCHED_KEYS);
        void *v = NULL;
        ctxs_slot *held = NULL;
        if (i % 8 == 7) {
            ctxs_map *snap = NULL;
            if (!CHECK_EQ(ctxs_slot_snapshot(u->slot, &snap), CTXS_OK)) break;
            int found = ctxs_map_find(snap, key, &v);
            ctxs_map_release(snap);
            if (!CHECKF(found == 1 && (v == u->before[key] || v == u->after[key]),
                        "snapshot: key %llu holds %p", ull(key), v))
                break;
            continue;
        }
        int found = ctxs_slot_read_begin(u->slot, key, &v, &held);
        bool ok = found == 1 && (v == u->before[key] || v == u->after[key]) &&
                  tracker_valid(&u->h->ledger, v, "untouched read");
        ctxs_slot_read_end(held);
        if (!CHECKF(ok, "read: key %llu found %d value %p", ull(key), found, v)) break;
    }
    return NULL;
}

void test_threads_untouched(harness *h) {
    untouched_run u = {.h = h};
    atomic_init(&u.started, 0);
    ctxs_map *map = ctxs_map_new(h->store);
    REQUIRE(map != NULL);
    for (int k = 0; k < UNTOUCHED_KEYS; k++) {
        u.before[k] = tv_new(h, (uint64_t)k);
        u.after[k] = tv_new(h, 1000 + (uint64_t)k);
        ctxs_map *next = NULL;
        REQUIRE(ctxs_map_assoc(map, (uint64_t)k, u.before[k], &next) == CTXS_OK);
        ctxs_map_release(map);
        map = next;
    }
    u.slot = ctxs_slot_adopt(h->store, map); /* only the slot holds the map */
    REQUIRE(u.slot != NULL);
    pthread_t readers[UNTOUCHED_READERS];
    for (int i = 0; i < UNTOUCHED_READERS; i++)
        REQUIRE(pthread_create(&readers[i], NULL, untouched_reader, &u) == 0);
    while (atomic_load(&u.started) < UNTOUCHED_READERS) sched_yield();
    /* The first write, then more, while the readers run: each replaces a
     * key's value, in a new map and then in place. */
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < UNTOUCHED_KEYS; k++) {
            CHECK_EQ(
                ctxs_slot_assoc(u.slot, (uint64_t)k, round % 2 == 0 ? u.after[k] : u.before[k]),
                CTXS_OK);
        }
    }
    for (int i = 0; i < UNTOUCHED_READERS; i++) pthread_join(readers[i], NULL);
    ctxs_slot_release(u.slot);
    for (int k = 0; k < UNTOUCHED_KEYS; k++) {
        CHECK_EQ(store_refs(u.before[k]), 0);
        CHECK_EQ(store_refs(u.after[k]), 0);
        tv_drop(u.before[k]);
        tv_drop(u.after[k]);
    }
}
