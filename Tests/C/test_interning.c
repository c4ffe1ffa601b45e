/*
 * test_interning.c: key interning: ids stable and distinct, any bytes, growth of
 * the table, and names read back.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================= interning */

void test_interning(harness *h) {
    ctxs_store *s = h->store;
    uint64_t a = 0, a2 = 0, b = 0;
    CHECK_EQ(ctxs_intern(s, "alpha", 5, &a), CTXS_OK);
    CHECK_EQ(ctxs_intern(s, "alpha", 5, &a2), CTXS_OK);
    CHECK_EQ(a, a2);
    CHECK_EQ(ctxs_intern(s, "beta", 4, &b), CTXS_OK);
    CHECK(a != b);
    CHECK(name_is(s, a, "alpha", 5));
    CHECK(name_is(s, b, "beta", 4));
    CHECK_EQ(stats_of(s).interned_keys, 2);

    /* Names are bytes: NULs count, and so does length. */
    const char *const nul_names[] = {"a", "a\0", "a\0b", "a\0c", "\0", "\0\0", "b"};
    const size_t nul_lengths[] = {1, 2, 3, 3, 1, 2, 1};
    uint64_t nul_ids[7];
    for (int i = 0; i < 7; i++) {
        CHECK_EQ(ctxs_intern(s, nul_names[i], nul_lengths[i], &nul_ids[i]), CTXS_OK);
        CHECKF(name_is(s, nul_ids[i], nul_names[i], nul_lengths[i]), "name %d round trip", i);
        for (int j = 0; j < i; j++)
            CHECKF(nul_ids[i] != nul_ids[j], "names %d and %d share an id", i, j);
    }
    uint64_t empty_id = 0, empty_id2 = 0, found = 0;
    CHECK_EQ(ctxs_intern(s, NULL, 0, &empty_id), CTXS_OK);
    CHECK_EQ(ctxs_intern(s, "xyz", 0, &empty_id2), CTXS_OK);
    CHECK_EQ(empty_id, empty_id2);
    CHECK(name_is(s, empty_id, NULL, 0));
    CHECK(ctxs_intern_find(s, NULL, 0, &found) == 1 && found == empty_id);
    for (int i = 0; i < 7; i++) CHECK(empty_id != nul_ids[i]);

    /* ctxs_intern_find does not intern. */
    size_t interned = stats_of(s).interned_keys;
    CHECK_EQ(ctxs_intern_find(s, "gamma", 5, &found), 0);
    CHECK_EQ(ctxs_intern_find(s, "gamma", 5, &found), 0);
    CHECK_EQ(stats_of(s).interned_keys, interned);
    CHECK(ctxs_intern_find(s, "alpha", 5, &found) == 1 && found == a);
    CHECK_EQ(ctxs_intern_find(s, "alph", 4, &found), 0);

    /* Ids not handed out. */
    {
        const void *bytes = NULL;
        size_t length = 0;
        CHECK_EQ(ctxs_intern_name(s, a ^ 0x8000000000000001ull, &bytes, &length), 0);
        CHECK_EQ(ctxs_intern_name(s, splitmix64(12345), &bytes, &length), 0);
    }

    /* A 1 MiB name. */
    {
        size_t n = 1u << 20;
        unsigned char *big = xcalloc(n, 1);
        for (size_t i = 0; i < n; i++) big[i] = (unsigned char)(splitmix64(i) >> 56);
        uint64_t id = 0, id2 = 0, id3 = 0;
        CHECK_EQ(ctxs_intern(s, big, n, &id), CTXS_OK);
        CHECK(name_is(s, id, big, n));
        CHECK(ctxs_intern_find(s, big, n, &id2) == 1 && id2 == id);
        big[n - 1] ^= 1;
        CHECK_EQ(ctxs_intern_find(s, big, n, &id3), 0);
        CHECK_EQ(ctxs_intern(s, big, n, &id3), CTXS_OK);
        CHECK(id3 != id);
        CHECK(name_is(s, id3, big, n));
        free(big);
    }

    /* 100,000 names. */
    {
        enum { N = 100000 };
        uint64_t *ids = xcalloc(N, sizeof *ids);
        size_t before = stats_of(s).interned_keys;
        char name[32];
        bool ok = true;
        for (int i = 0; i < N && ok; i++) {
            int length = snprintf(name, sizeof name, "key.%d", i);
            ok = CHECKF(ctxs_intern(s, name, (size_t)length, &ids[i]) == CTXS_OK, "intern %d", i);
        }
        CHECK_EQ(stats_of(s).interned_keys, before + N);
        for (int i = 0; i < N && ok; i++) {
            int length = snprintf(name, sizeof name, "key.%d", i);
            uint64_t again = 0, look = 0;
            ok = CHECKF(ctxs_intern(s, name, (size_t)length, &again) == CTXS_OK && again == ids[i],
                        "re-intern of %s", name);
            ok = ok &&
                 CHECKF(ctxs_intern_find(s, name, (size_t)length, &look) == 1 && look == ids[i],
                        "find of %s", name);
            ok = ok && CHECKF(name_is(s, ids[i], name, (size_t)length), "name of %s", name);
        }
        CHECK_EQ(stats_of(s).interned_keys, before + N);
        uint64_t *sorted = xcalloc(N, sizeof *sorted);
        memcpy(sorted, ids, N * sizeof *ids);
        CHECK_EQ(sort_unique_u64(sorted, N), N);
        /* Well spread: usable as trie hashes, in the low bits and the high. */
        size_t low[32] = {0}, high[16] = {0};
        for (int i = 0; i < N; i++) {
            low[ids[i] & 31]++;
            high[ids[i] >> 60]++;
        }
        for (int i = 0; i < 32; i++)
            CHECKF(low[i] > N / 32 * 8 / 10 && low[i] < N / 32 * 12 / 10,
                   "ids are not spread: %zu of %d have low bits %d", low[i], N, i);
        for (int i = 0; i < 16; i++)
            CHECKF(high[i] > N / 16 * 8 / 10 && high[i] < N / 16 * 12 / 10,
                   "ids are not spread: %zu of %d have high bits %d", high[i], N, i);
        /* The root fragment (bits 0-4) counts names: any 32 interned one
         * after another take the 32 fragments, one each (hamt.c,
         * "Hashing"). */
        bool apart = true;
        for (int i = 0; i + 32 <= N && apart; i++) {
            uint32_t seen = 0;
            for (int j = i; j < i + 32; j++) seen |= UINT32_C(1) << (ids[j] & 31);
            apart = CHECKF(seen == UINT32_MAX, "ids %d..%d share a root fragment", i, i + 31);
        }
        /* Below the root the bits are spread: the ids under one root
         * fragment part evenly at level 1 (bits 5-9). */
        size_t level1[32] = {0}, under = 0;
        for (int i = 0; i < N; i++) {
            if ((ids[i] & 31) != 5) continue;
            level1[(ids[i] >> 5) & 31]++;
            under++;
        }
        for (int i = 0; i < 32; i++)
            CHECKF(level1[i] > under / 32 / 2 && level1[i] < under / 32 * 3 / 2,
                   "level 1 is not spread: %zu of %zu have fragment %d", level1[i], under, i);
        free(sorted);
        free(ids);
    }

    /* So a map of keys interned together is one node: every read of it
     * walks one level, whichever key it reads. */
    {
        enum { K = 32 };
        uint64_t keys[K];
        tracker *t[K];
        void *values[K];
        char name[32];
        for (int i = 0; i < K; i++) {
            int length = snprintf(name, sizeof name, "together.%d", i);
            REQUIRE(ctxs_intern(s, name, (size_t)length, &keys[i]) == CTXS_OK);
            values[i] = t[i] = tv_new(h, keys[i]);
        }
        for (size_t n = 1; n <= K; n *= 2) {
            ctxs_map *m = map_of(h, keys, values, n);
            CHECKF(ctxs_map_node_count(m) == 1 && ctxs_map_depth(m) == 0,
                   "a map of %zu keys interned together has %zu nodes, depth %d", n,
                   ctxs_map_node_count(m), ctxs_map_depth(m));
            ctxs_map_release(m);
        }
        for (int i = 0; i < K; i++) tv_drop(t[i]);
    }
}

/* The key caches: a hit returns what was put, a miss nothing; a key maps
 * to the id last put for it, and many threads putting and finding at once
 * never pair one key with another's id (TSan watches the seqlock). A
 * checked find hits only when the caller's bytes are the cached id's name,
 * so a key reused for other bytes (a freed heap string's address) misses. */
#define CHECKED_NAMES 512

typedef struct cache_worker {
    ctxs_store *store;
    int thread;
    const uint64_t *ids; /* ids[k] is the id of the name "checked-<k>" */
    _Atomic int *mismatches;
} cache_worker;

static void *cache_run(void *arg) {
    cache_worker *w = arg;
    for (uint64_t round = 0; round < 200; round++) {
        for (uint64_t k = (uint64_t)w->thread; k < 4096; k += 3) {
            uint64_t id = 0;
            /* Each key's id is a function of it, so any hit can be checked. */
            if (ctxs_intern_cache_find(w->store, k, ~k, &id) == 1 && id != k * 2 + 1)
                atomic_fetch_add(w->mismatches, 1);
            ctxs_intern_cache_put(w->store, k, ~k, k * 2 + 1);
        }
    }
    /* Checked keys: every thread puts key k -> the id of name k or of name
     * k + 1 in turn (a key reused for other bytes), and finds with name k's
     * bytes: a hit must be name k's id, whatever was put last. */
    char name[32];
    for (uint64_t round = 0; round < 50; round++) {
        for (uint64_t k = 0; k < CHECKED_NAMES - 1; k++) {
            uint64_t key0 = k, key1 = ~k;
            uint64_t shift = (k + round + (uint64_t)w->thread) & 1;
            ctxs_intern_cache_put_checked(w->store, key0, key1, w->ids[k + shift]);
            int n = snprintf(name, sizeof name, "checked-%llu", (unsigned long long)k);
            uint64_t id = 0;
            if (ctxs_intern_cache_find_checked(w->store, key0, key1, name, (size_t)n, &id) == 1 &&
                id != w->ids[k])
                atomic_fetch_add(w->mismatches, 1);
        }
    }
    return NULL;
}

/* Names interned while other threads read them through the checked cache:
 * the writer interns "fresh-<k>" and puts it; a reader's hit must be the id
 * the name table gives, so the name it compared was whole (TSan checks
 * that the name's bytes were published before the entry). */
typedef struct fresh_worker {
    ctxs_store *store;
    bool writer;
    _Atomic int *mismatches;
    _Atomic int *hits;
} fresh_worker;

#define FRESH_NAMES 2000

static void *fresh_run(void *arg) {
    fresh_worker *w = arg;
    char name[32];
    for (int pass = 0; pass < (w->writer ? 1 : 20); pass++) {
        for (uint64_t k = 0; k < FRESH_NAMES; k++) {
            int n = snprintf(name, sizeof name, "fresh-%llu", (unsigned long long)k);
            uint64_t id = 0, direct = 0;
            if (w->writer) {
                if (ctxs_intern(w->store, name, (size_t)n, &id) != CTXS_OK) {
                    atomic_fetch_add(w->mismatches, 1);
                    continue;
                }
                ctxs_intern_cache_put_checked(w->store, k | UINT64_C(1) << 32, k, id);
            } else if (ctxs_intern_cache_find_checked(w->store, k | UINT64_C(1) << 32, k, name,
                                                      (size_t)n, &id) == 1) {
                atomic_fetch_add(w->hits, 1);
                if (ctxs_intern_find(w->store, name, (size_t)n, &direct) != 1 || direct != id)
                    atomic_fetch_add(w->mismatches, 1);
            }
        }
    }
    return NULL;
}

void test_intern_cache(harness *h) {
    ctxs_store *s = h->store;
    uint64_t id = 7;
    CHECK_EQ(ctxs_intern_cache_find(s, 1, 2, &id), 0);
    CHECK_EQ(id, 7); /* untouched on a miss */
    ctxs_intern_cache_put(s, 1, 2, 42);
    CHECK_EQ(ctxs_intern_cache_find(s, 1, 2, &id), 1);
    CHECK_EQ(id, 42);
    CHECK_EQ(ctxs_intern_cache_find(s, 2, 1, &id), 0);
    CHECK_EQ(ctxs_intern_cache_find(s, 1, 3, &id), 0);
    /* The inline probe the Swift layer uses reads the same table. */
    ctxs_key_cache_entry *table = ctxs_intern_cache_table(s);
    CHECK_EQ(ctxs_key_cache_read(&table[ctxs_key_cache_index(1, 2) & (CTXS_KEY_CACHE_ENTRIES - 1)],
                                 1, 2),
             42);
    CHECK_EQ(ctxs_key_cache_read(&table[ctxs_key_cache_index(1, 3) & (CTXS_KEY_CACHE_ENTRIES - 1)],
                                 1, 3),
             0);
    ctxs_key_cache_entry *published = atomic_load(&ctxs_swift_key_cache);
    atomic_store(&ctxs_swift_key_cache, table);
    CHECK_EQ(ctxs_swift_key_cache_find(1, 2), 42);
    CHECK_EQ(ctxs_swift_key_cache_find(2, 1), 0);
    atomic_store(&ctxs_swift_key_cache, NULL);
    CHECK_EQ(ctxs_swift_key_cache_find(1, 2), 0); /* nothing published: every probe misses */
    atomic_store(&ctxs_swift_key_cache, published);
    /* The two caches are apart: a trusted entry is no checked one. */
    id = 7;
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 1, 2, "x", 1, &id), 0);
    CHECK_EQ(id, 7);

    uint64_t alpha = 0, empty = 0;
    REQUIRE(ctxs_intern(s, "alpha", 5, &alpha) == CTXS_OK);
    REQUIRE(ctxs_intern(s, "", 0, &empty) == CTXS_OK);
    ctxs_intern_cache_put_checked(s, 5, 6, alpha);
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 5, 6, "alpha", 5, &id), 1);
    CHECK_EQ(id, alpha);
    id = 7;
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 5, 6, "alphb", 5, &id), 0); /* other bytes */
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 5, 6, "alph", 4, &id), 0);  /* a prefix */
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 5, 6, "alpha!", 6, &id), 0);
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 5, 7, "alpha", 5, &id), 0); /* other key */
    CHECK_EQ(ctxs_intern_cache_find(s, 5, 6, &id), 0); /* not in the trusted cache */
    CHECK_EQ(id, 7);
    ctxs_intern_cache_put_checked(s, 9, 10, empty);
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 9, 10, NULL, 0, &id), 1);
    CHECK_EQ(id, empty);
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 9, 10, "a", 1, &id), 0);
    /* An id that is none of this store's puts nothing. */
    ctxs_intern_cache_put_checked(s, 11, 12, 42);
    CHECK_EQ(ctxs_intern_cache_find_checked(s, 11, 12, NULL, 0, &id), 0);

    uint64_t *ids = calloc(CHECKED_NAMES, sizeof *ids);
    REQUIRE(ids != NULL);
    char name[32];
    for (uint64_t k = 0; k < CHECKED_NAMES; k++) {
        int n = snprintf(name, sizeof name, "checked-%llu", (unsigned long long)k);
        REQUIRE(ctxs_intern(s, name, (size_t)n, &ids[k]) == CTXS_OK);
    }
    _Atomic int mismatches = 0;
    pthread_t threads[3];
    cache_worker workers[3];
    for (int t = 0; t < 3; t++) {
        workers[t] = (cache_worker){s, t, ids, &mismatches};
        REQUIRE(pthread_create(&threads[t], NULL, cache_run, &workers[t]) == 0);
    }
    for (int t = 0; t < 3; t++) pthread_join(threads[t], NULL);
    CHECK_EQ(atomic_load(&mismatches), 0);
    free(ids);

    _Atomic int hits = 0;
    fresh_worker fresh[3];
    for (int t = 0; t < 3; t++) {
        fresh[t] = (fresh_worker){s, t == 0, &mismatches, &hits};
        REQUIRE(pthread_create(&threads[t], NULL, fresh_run, &fresh[t]) == 0);
    }
    for (int t = 0; t < 3; t++) pthread_join(threads[t], NULL);
    CHECK_EQ(atomic_load(&mismatches), 0);
    /* With no other thread, a put and then a find of a name always hit. */
    int found = 0;
    for (uint64_t k = FRESH_NAMES - 16; k < FRESH_NAMES; k++) {
        int n = snprintf(name, sizeof name, "fresh-%llu", (unsigned long long)k);
        uint64_t direct = 0;
        REQUIRE(ctxs_intern_find(s, name, (size_t)n, &direct) == 1);
        ctxs_intern_cache_put_checked(s, k | UINT64_C(1) << 32, k, direct);
        if (ctxs_intern_cache_find_checked(s, k | UINT64_C(1) << 32, k, name, (size_t)n, &id) ==
                1 &&
            id == direct)
            found++;
    }
    CHECK_EQ(found, 16);
}
