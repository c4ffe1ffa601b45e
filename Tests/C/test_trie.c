/*
 * test_trie.c: the persistent map alone: the store's basic contracts, persistence of
 * every version, exact trie shapes (chosen keys), a long model check against
 * map_model, and exclusive writes in place.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =========================================================== store basics */

void test_store_basics(harness *h) {
    ctxs_store *s = h->store;

    const int codes[] = {CTXS_OK, CTXS_ENOMEM, CTXS_EINVAL, CTXS_EBUSY};
    for (size_t i = 0; i < 4; i++) {
        const char *a = ctxs_status_string(codes[i]);
        CHECKF(a != NULL && a[0] != '\0', "ctxs_status_string(%d) is empty", codes[i]);
        for (size_t j = 0; a != NULL && j < i; j++) {
            const char *b = ctxs_status_string(codes[j]);
            CHECKF(b != NULL && strcmp(a, b) != 0, "statuses %d and %d share the name \"%s\"",
                   codes[i], codes[j], a);
        }
    }
    CHECK(ctxs_status_string(12345) != NULL);
    CHECK_EQ(ctxs_store_backend(s), h->backend);
#ifdef CTXS_WITH_JEMALLOC
    CHECK_EQ(ctxs_have_jemalloc(), 1);
#endif
    CHECK_EQ(ctxs_store_destroy(NULL), CTXS_OK);

    /* A store with default options: no callbacks, values not owned. */
    ctxs_store *plain = ctxs_store_create(NULL);
    REQUIRE(plain != NULL);
    CHECK(ctxs_store_backend(plain) != CTXS_BACKEND_DEFAULT);
    {
        ctxs_store_options o;
        memset(&o, 0, sizeof o);
        ctxs_store *d = ctxs_store_create(&o);
        CHECK(d != NULL);
        if (d != NULL) {
            CHECK_EQ(ctxs_store_backend(d), ctxs_store_backend(plain));
            CHECK_EQ(ctxs_store_destroy(d), CTXS_OK);
        }
        int unowned[2];
        ctxs_map *m = ctxs_map_new(plain);
        assoc_in_place(&m, 1, &unowned[0]);
        assoc_in_place(&m, 2, &unowned[1]);
        void *v = NULL;
        CHECK(ctxs_map_find(m, 2, &v) == 1 && v == &unowned[1]);
        CHECK_EQ(ctxs_map_count(m), 2);
        CHECK_EQ(ctxs_store_destroy(plain), CTXS_EBUSY);
        ctxs_map_release(m);
        CHECK_EQ(ctxs_store_destroy(plain), CTXS_OK);
    }

    /* Backends that are not built in. */
    {
        ctxs_store_options o;
        memset(&o, 0, sizeof o);
        o.backend = CTXS_BACKEND_JEMALLOC;
        ctxs_store *j = ctxs_store_create(&o);
        if (ctxs_have_jemalloc()) {
            CHECK(j != NULL && ctxs_store_backend(j) == CTXS_BACKEND_JEMALLOC);
        } else {
            CHECK(j == NULL);
        }
        CHECK_EQ(ctxs_store_destroy(j), CTXS_OK);
        o.backend = (ctxs_backend)77;
        ctxs_store *bad = ctxs_store_create(&o);
        CHECKF(bad == NULL, "ctxs_store_create accepted backend 77");
        ctxs_store_destroy(bad);
    }

    /* The empty map. */
    ctxs_statistics st0 = stats_of(s);
    CHECK_EQ(st0.live_roots, 0);
    CHECK_EQ(st0.live_values, 0);
    CHECK_EQ(st0.live_slots, 0);
    CHECK(st0.bytes_reserved >= st0.bytes_in_use);
    ctxs_map *empty = ctxs_map_new(s);
    ctxs_map *empty2 = ctxs_map_new(s);
    REQUIRE(empty != NULL);
    CHECK_PTR_EQ(empty, empty2);
    CHECK_PTR_EQ(ctxs_map_store(empty), s);
    CHECK_EQ(ctxs_map_count(empty), 0);
    CHECK_EQ(ctxs_map_depth(empty), -1);
    CHECK_EQ(ctxs_map_find(empty, 0, NULL), 0);
    CHECK_EQ(ctxs_map_find(empty, UINT64_MAX, NULL), 0);
    CHECK_EQ(ctxs_map_check(empty), 1);
    CHECK_EQ(ctxs_map_same_shape(empty, empty2), 1);
    {
        ctxs_map_iter it;
        ctxs_map_iter_init(&it, empty);
        CHECK_EQ(ctxs_map_iter_next(&it, NULL, NULL), 0);
    }
    CHECK_EQ(stats_of(s).live_roots, st0.live_roots);

    /* assoc, find, EINVAL. */
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *c = tv_new(h, 3);
    ctxs_map *m1 = NULL;
    REQUIRE(ctxs_map_assoc(empty, 10, a, &m1) == CTXS_OK);
    CHECK(m1 != empty);
    CHECK_PTR_EQ(ctxs_map_store(m1), s);
    CHECK_EQ(ctxs_map_count(m1), 1);
    CHECK_EQ(ctxs_map_count(empty), 0);
    CHECK_EQ(ctxs_map_depth(m1), 0);
    CHECK_EQ(ctxs_map_node_count(m1), 1);
    void *v = NULL;
    CHECK(ctxs_map_find(m1, 10, &v) == 1 && v == a);
    CHECK_EQ(ctxs_map_find(m1, 10, NULL), 1);
    CHECK_EQ(ctxs_map_find(m1, 11, &v), 0);
    CHECK_EQ(ctxs_map_find(empty, 10, NULL), 0);
    CHECK_EQ(atomic_load(&a->retains), 1);
    {
        ctxs_map *sentinel = (ctxs_map *)&v, *out = sentinel;
        ctxs_statistics before = stats_of(s);
        uint64_t retains = atomic_load(&h->ledger.retains);
        CHECK_EQ(ctxs_map_assoc(m1, 11, NULL, &out), CTXS_EINVAL);
        CHECK_PTR_EQ(out, sentinel);
        CHECK_EQ(stats_of(s).live_roots, before.live_roots);
        CHECK_EQ(stats_of(s).live_nodes, before.live_nodes);
        CHECK_EQ(atomic_load(&h->ledger.retains), retains);
    }

    /* Fork, find, iteration and introspection allocate nothing. */
    {
        uint64_t allocs = ctxs_store_allocation_count(s);
        ctxs_map *f = ctxs_map_fork(m1);
        CHECK_PTR_EQ(f, m1);
        CHECK_EQ(ctxs_map_find(f, 10, NULL), 1);
        ctxs_map_iter it;
        uint64_t key = 0;
        ctxs_map_iter_init(&it, f);
        CHECK(ctxs_map_iter_next(&it, &key, NULL) == 1 && key == 10);
        CHECK_EQ(ctxs_map_iter_next(&it, &key, NULL), 0);
        CHECK_EQ(ctxs_map_iter_next(&it, NULL, NULL), 0);
        CHECK_EQ(ctxs_map_same_shape(f, m1), 1);
        CHECK_EQ(ctxs_map_check(f), 1);
        ctxs_map_release(f);
        CHECK_EQ(ctxs_store_allocation_count(s), allocs);
        CHECK_EQ(ctxs_map_count(m1), 1);
    }

    /* Statistics of one live map. */
    ctxs_map *m3 = ctxs_map_fork(m1);
    assoc_in_place(&m3, 11, b);
    assoc_in_place(&m3, 12, c);
    ctxs_map_release(m1);
    {
        ctxs_statistics st = stats_of(s);
        CHECK_EQ(st.live_roots, st0.live_roots + 1);
        CHECK_EQ(st.live_values, 3);
        CHECK_EQ(st.live_nodes - st0.live_nodes, ctxs_map_node_count(m3));
        CHECK(st.bytes_in_use > st0.bytes_in_use);
        CHECK(st.bytes_reserved >= st.bytes_in_use);
    }

    /* Destroy refuses while objects live, and changes nothing. */
    CHECK_EQ(ctxs_store_destroy(s), CTXS_EBUSY);
    CHECK(ctxs_map_find(m3, 11, &v) == 1 && v == b);
    ctxs_slot *slot = ctxs_slot_create(s, m3, NULL);
    REQUIRE(slot != NULL);
    ctxs_map_release(m3);
    CHECK_EQ(ctxs_store_destroy(s), CTXS_EBUSY);
    v = NULL;
    CHECK(ctxs_slot_find(slot, 12, &v) == 1 && v == c);
    if (v != NULL) tv_put(h, v);
    ctxs_slot_release(slot);

    ctxs_map_release(NULL);
    ctxs_slot_release(NULL);
    ctxs_map_release(empty);
    ctxs_map_release(empty2);
    CHECK_EQ(atomic_load(&a->releases), 1);
    CHECK_EQ(atomic_load(&b->releases), 1);
    tv_drop(a);
    tv_drop(b);
    tv_drop(c);
    ctxs_statistics st = stats_of(s);
    CHECK_EQ(st.live_roots, st0.live_roots);
    CHECK_EQ(st.live_nodes, st0.live_nodes);
    CHECK_EQ(st.live_values, 0);
    CHECK_EQ(st.live_slots, 0);
    CHECK_EQ(st.bytes_in_use, st0.bytes_in_use);
}

/* ============================================================ persistence */

#define PERSIST_STEPS 600

void test_persistence(harness *h) {
    uint64_t universe[64];
    size_t un = 0;
    for (uint64_t k = 0; k < 48; k++) universe[un++] = k;
    universe[un++] = 5 | (1ull << 60);
    universe[un++] = 5 | (2ull << 60);
    universe[un++] = 5 | (1ull << 63);
    universe[un++] = 9 | (1ull << 35);
    universe[un++] = 9 | (3ull << 35);
    universe[un++] = 1057;
    universe[un++] = 0xFEDCBA9876543210ull;

    ctxs_map **roots = xcalloc(PERSIST_STEPS + 1, sizeof *roots);
    model *models = xcalloc(PERSIST_STEPS + 1, sizeof *models);
    roots[0] = ctxs_map_new(h->store);
    rng r = {0xBE551570};
    bool ok = true;
    size_t built = 1;

    for (size_t i = 1; i <= PERSIST_STEPS && ok; i++) {
        uint64_t key = universe[rng_below(&r, un)];
        model_copy(&models[i], &models[i - 1]);
        int rc;
        if (rng_below(&r, 10) < 6) {
            tracker *value = tv_new(h, i);
            rc = ctxs_map_assoc(roots[i - 1], key, value, &roots[i]);
            tv_drop(value);
            model_set(&models[i], key, value);
        } else {
            bool present = model_del(&models[i], key);
            rc = ctxs_map_without(roots[i - 1], key, &roots[i]);
            if (rc == CTXS_OK && !present)
                CHECKF(roots[i] == roots[i - 1],
                       "step %zu: without of an absent key gave a new map", i);
        }
        ok = CHECKF(rc == CTXS_OK, "step %zu: rc %d", i, rc);
        if (!ok) break;
        built = i + 1;
        ok = MAP_EQUALS(roots[i], &models[i]) && MAP_EQUALS(roots[i - 1], &models[i - 1]);
    }

    /* Every root still reads as it did, key by key across the universe. */
    for (size_t i = 0; i < built && ok; i++) {
        ok = MAP_EQUALS(roots[i], &models[i]);
        for (size_t u = 0; u < un && ok; u++) {
            void *value = NULL;
            int found = ctxs_map_find(roots[i], universe[u], &value);
            void *expected = model_get(&models[i], universe[u]);
            ok = CHECKF(found == (expected != NULL) && value == expected,
                        "root %zu, key 0x%llx: found %d value %p, expected %p", i, ull(universe[u]),
                        found, value, expected);
        }
    }

    /* Release in random order; the others stay intact. */
    uint64_t *order = xcalloc(built, sizeof *order);
    for (size_t i = 0; i < built; i++) order[i] = i;
    shuffle_u64(&r, order, built);
    for (size_t n = 0; n < built; n++) {
        ctxs_map_release(roots[order[n]]);
        roots[order[n]] = NULL;
        if (ok && n % 37 == 0)
            for (size_t i = 0; i < built && ok; i++)
                if (roots[i] != NULL) ok = MAP_EQUALS(roots[i], &models[i]);
    }
    CHECK_EQ(stats_of(h->store).live_values, 0);
    for (size_t i = 0; i <= PERSIST_STEPS; i++) model_free(&models[i]);
    free(order);
    free(models);
    free(roots);
}

/* ================================================================= shape */

/* Keys {a, b} whose lowest differing bit is `bit` split at level min(bit/5, 12). */
static int split_level(int bit) { return bit / 5 < 12 ? bit / 5 : 12; }

static bool shape_is(harness *h, const uint64_t *keys, size_t n, size_t nodes, int depth,
                     const char *file, int line) {
    ctxs_map *map = ctxs_map_new(h->store);
    tracker *value = tv_new(h, 0);
    for (size_t i = 0; i < n; i++) assoc_in_place(&map, keys[i], value);
    tv_drop(value);
    bool ok = check_report(file, line, ctxs_map_count(map) == n, "count %zu, expected %zu",
                           ctxs_map_count(map), n);
    ok &= check_report(file, line, ctxs_map_node_count(map) == nodes,
                       "node count %zu, expected %zu (first key 0x%llx)", ctxs_map_node_count(map),
                       nodes, n ? ull(keys[0]) : 0);
    ok &= check_report(file, line, ctxs_map_depth(map) == depth, "depth %d, expected %d",
                       ctxs_map_depth(map), depth);
    ok &= check_report(file, line, ctxs_map_check(map) == 1, "ctxs_map_check");
    ctxs_map_release(map);
    return ok;
}
#define SHAPE_IS(h, keys, n, nodes, depth) \
    shape_is((h), (keys), (n), (nodes), (depth), __FILE__, __LINE__)

/* Removes `key` from a map of `keys` and compares it with a map of the
 * remaining keys built directly: same trie, with `nodes` nodes and `depth`. */
static void check_collapse(harness *h, const uint64_t *keys, size_t n, uint64_t key, size_t nodes,
                           int depth, int line) {
    void *values[16];
    uint64_t rest[16];
    size_t rn = 0;
    ctxs_statistics st0 = stats_of(h->store);
    tracker *value = tv_new(h, 99);
    for (size_t i = 0; i < n; i++) {
        values[i] = value;
        if (keys[i] != key) rest[rn++] = keys[i];
    }
    ctxs_map *full = map_of(h, keys, values, n);
    ctxs_map *direct = map_of(h, rest, values, rn);
    ctxs_map *removed = NULL;
    if (check_report(__FILE__, line, ctxs_map_without(full, key, &removed) == CTXS_OK,
                     "ctxs_map_without(0x%llx)", ull(key))) {
        ctxs_map_release(full);
        check_report(__FILE__, line, ctxs_map_same_shape(removed, direct) == 1,
                     "removing 0x%llx left a non-canonical trie", ull(key));
        check_report(__FILE__, line, ctxs_map_node_count(removed) == nodes,
                     "after removing 0x%llx: %zu nodes, expected %zu", ull(key),
                     ctxs_map_node_count(removed), nodes);
        check_report(__FILE__, line, ctxs_map_depth(removed) == depth,
                     "after removing 0x%llx: depth %d, expected %d", ull(key),
                     ctxs_map_depth(removed), depth);
        check_report(__FILE__, line, ctxs_map_count(removed) == rn, "count %zu, expected %zu",
                     ctxs_map_count(removed), rn);
        check_report(__FILE__, line, ctxs_map_check(removed) == 1, "ctxs_map_check");
        /* With `full` gone, the live nodes are exactly those of the two maps. */
        ctxs_statistics st = stats_of(h->store);
        size_t expected = ctxs_map_node_count(removed) + ctxs_map_node_count(direct);
        check_report(__FILE__, line, st.live_nodes - st0.live_nodes == expected,
                     "after removing 0x%llx: %zu live nodes, expected %zu", ull(key),
                     st.live_nodes - st0.live_nodes, expected);
        ctxs_map_release(removed);
    } else {
        ctxs_map_release(full);
    }
    ctxs_map_release(direct);
    tv_drop(value);
}

void test_shape(harness *h) {
    ctxs_store *s = h->store;
    ctxs_map *empty = ctxs_map_new(s);
    ctxs_statistics st0 = stats_of(s);
    rng r = {0x5A4E};

    /* Pinned shapes. */
    {
        const uint64_t one[] = {1};
        SHAPE_IS(h, one, 0, ctxs_map_node_count(empty), -1);
        SHAPE_IS(h, one, 1, 1, 0);
        const uint64_t k12[] = {1, 2};
        SHAPE_IS(h, k12, 2, 1, 0);
        const uint64_t k1_33[] = {1, 33};
        SHAPE_IS(h, k1_33, 2, 2, 1);
        const uint64_t k1_33_65[] = {1, 33, 65};
        SHAPE_IS(h, k1_33_65, 3, 2, 1);
        const uint64_t k1_33_1057[] = {1, 33, 1057};
        SHAPE_IS(h, k1_33_1057, 3, 3, 2);
        const uint64_t k33_1057[] = {33, 1057};
        SHAPE_IS(h, k33_1057, 2, 3, 2);
        const uint64_t x = 0x0123456789ABCDEFull & ((1ull << 60) - 1);
        const uint64_t deep[] = {x, x ^ (1ull << 63)};
        SHAPE_IS(h, deep, 2, 13, 12);
        const uint64_t deep4[] = {x, x | (1ull << 60), x | (2ull << 60), x | (15ull << 60)};
        SHAPE_IS(h, deep4, 4, 13, 12);
        const uint64_t deep_y[] = {x, x ^ (1ull << 63), x ^ 1};
        SHAPE_IS(h, deep_y, 3, 13, 12);
        const uint64_t mid[] = {x, x + (1ull << 35)};
        SHAPE_IS(h, mid, 2, 8, 7);
        const uint64_t l11[] = {0, 1ull << 59};
        SHAPE_IS(h, l11, 2, 12, 11);
        /* Every bit: {k, k ^ 2^bit} splits at level min(bit/5, 12). */
        for (int bit = 0; bit < 64; bit++) {
            uint64_t k = rng_next(&r);
            const uint64_t pair[] = {k, k ^ (1ull << bit)};
            int level = split_level(bit);
            if (!SHAPE_IS(h, pair, 2, (size_t)level + 1, level)) printf("    (bit %d)\n", bit);
        }
        /* Three keys {0, 2^b, 2^c}, b < c: 2^b leaves the common path at
         * level(b); 0 and 2^c agree on every bit below c, so they go on
         * together down to level(c) and split there: level(c) + 1 nodes. */
        for (int b = 0; b < 64; b += 3) {
            for (int c = b + 1; c < 64; c += 7) {
                const uint64_t three[] = {0, 1ull << b, 1ull << c};
                int lc = split_level(c);
                if (!SHAPE_IS(h, three, 3, (size_t)lc + 1, lc))
                    printf("    (bits %d and %d)\n", b, c);
            }
        }
    }

    /* Canonical removal: the trie collapses back. */
    {
        const uint64_t x = 0x0123456789ABCDEFull & ((1ull << 60) - 1);
        const uint64_t deep[] = {x, x ^ (1ull << 63)};
        check_collapse(h, deep, 2, x ^ (1ull << 63), 1, 0, __LINE__);
        check_collapse(h, deep, 2, x, 1, 0, __LINE__);
        const uint64_t deep_y[] = {x, x ^ (1ull << 63), x ^ 1};
        check_collapse(h, deep_y, 3, x, 1, 0, __LINE__);
        check_collapse(h, deep_y, 3, x ^ 1, 13, 12, __LINE__);
        const uint64_t k[] = {1, 33, 1057};
        check_collapse(h, k, 3, 1, 3, 2, __LINE__);
        check_collapse(h, k, 3, 33, 2, 1, __LINE__);
        check_collapse(h, k, 3, 1057, 2, 1, __LINE__);
        const uint64_t mid3[] = {x, x + (1ull << 35), x + (2ull << 35)};
        check_collapse(h, mid3, 3, x, 8, 7, __LINE__);
        const uint64_t chain[] = {0, 1ull << 5, 1ull << 10, 1ull << 15, 1ull << 20};
        check_collapse(h, chain, 5, 1ull << 20, 4, 3, __LINE__);
        check_collapse(h, chain, 5, 0, 4, 3, __LINE__);
        /* 0 and 2^20 still split at level 4: nothing to collapse. */
        check_collapse(h, chain, 5, 1ull << 5, 5, 4, __LINE__);
        check_collapse(h, chain, 5, 1ull << 15, 5, 4, __LINE__);
    }

    /* The live nodes of a map held alone are its node count. */
    {
        const uint64_t x = 0x0123456789ABCDEFull & ((1ull << 60) - 1);
        tracker *value = tv_new(h, 7);
        ctxs_map *m = ctxs_map_new(s);
        assoc_in_place(&m, x, value);
        assoc_in_place(&m, x ^ (1ull << 63), value);
        CHECK_EQ(stats_of(s).live_nodes - st0.live_nodes, 13);
        without_in_place(&m, x);
        CHECK_EQ(stats_of(s).live_nodes - st0.live_nodes, 1);
        without_in_place(&m, x ^ (1ull << 63));
        CHECK_EQ(stats_of(s).live_nodes, st0.live_nodes);
        CHECK_EQ(ctxs_map_count(m), 0);
        ctxs_map_release(m);
        tv_drop(value);
    }

    /* N keys in, all out in another order: back to the start. */
    enum { N = 3000, EXTRA = 700, POOL = 16 };
    uint64_t *keys = xcalloc(N + EXTRA, sizeof *keys);
    for (size_t i = 0; i < N + EXTRA; i++) {
        switch (i % 4) {
        case 0: keys[i] = splitmix64(i); break;                  /* spread */
        case 1: keys[i] = (uint64_t)i << 20; break;              /* low 20 bits shared */
        case 2: keys[i] = i; break;                              /* small */
        default: keys[i] = 0x2Bull | ((uint64_t)i << 50); break; /* low 50 bits shared */
        }
    }
    size_t nk = sort_unique_u64(keys, N + EXTRA);
    shuffle_u64(&r, keys, nk);
    size_t n = nk - EXTRA; /* keys[0..n) go in; keys[n..nk) only come and go */
    tracker *pool[POOL];
    void **values = xcalloc(nk, sizeof *values);
    for (size_t i = 0; i < POOL; i++) pool[i] = tv_new(h, 100 + i);
    for (size_t i = 0; i < nk; i++) values[i] = pool[i % POOL];

    {
        ctxs_map *m = ctxs_map_fork(empty);
        for (size_t i = 0; i < n; i++) assoc_in_place(&m, keys[i], values[i]);
        CHECK_EQ(ctxs_map_count(m), n);
        CHECK_EQ(ctxs_map_check(m), 1);
        CHECK_EQ(stats_of(s).live_values, st0.live_values + n);
        uint64_t *order = xcalloc(n, sizeof *order);
        memcpy(order, keys, n * sizeof *order);
        shuffle_u64(&r, order, n);
        for (size_t i = 0; i < n; i++) {
            without_in_place(&m, order[i]);
            if (ctxs_map_count(m) != n - i - 1) {
                CHECK_EQ(ctxs_map_count(m), n - i - 1);
                break;
            }
            if (i % 97 == 0 && !CHECK(ctxs_map_check(m) == 1)) break;
        }
        CHECK_EQ(ctxs_map_count(m), 0);
        CHECK_EQ(ctxs_map_depth(m), -1);
        CHECK_EQ(ctxs_map_node_count(m), ctxs_map_node_count(empty));
        CHECK_EQ(ctxs_map_same_shape(m, empty), 1);
        CHECK_EQ(ctxs_map_check(m), 1);
        ctxs_statistics st = stats_of(s);
        CHECK_EQ(st.live_nodes, st0.live_nodes);
        CHECK_EQ(st.live_values, st0.live_values);
        ctxs_map_release(m);
        free(order);
    }

    /* Same contents, different histories: the same trie. */
    {
        ctxs_map *a = map_of(h, keys, values, n);
        ctxs_map *b = ctxs_map_new(s);
        tracker *other = tv_new(h, 1);
        for (size_t i = n; i-- > 0;) {
            if (i % 5 == 0) assoc_in_place(&b, keys[i], other);            /* replaced below */
            if (i < EXTRA) assoc_in_place(&b, keys[n + i], values[n + i]); /* removed below */
            assoc_in_place(&b, keys[i], values[i]);
        }
        for (size_t i = 0; i < EXTRA; i++) without_in_place(&b, keys[n + (i * 7919) % EXTRA]);
        tv_drop(other);
        CHECK_EQ(ctxs_map_count(b), n);
        CHECK_EQ(ctxs_map_same_shape(a, b), 1);
        CHECK_EQ(ctxs_map_same_shape(b, a), 1);
        CHECK_EQ(ctxs_map_check(a), 1);
        CHECK_EQ(ctxs_map_check(b), 1);
        CHECK_EQ(ctxs_map_node_count(a), ctxs_map_node_count(b));
        CHECK_EQ(ctxs_map_depth(a), ctxs_map_depth(b));
        /* Same shape: same trie order. */
        ctxs_map_iter ia, ib;
        ctxs_map_iter_init(&ia, a);
        ctxs_map_iter_init(&ib, b);
        uint64_t ka, kb;
        void *va, *vb;
        size_t steps = 0;
        for (;;) {
            int na = ctxs_map_iter_next(&ia, &ka, &va), nb = ctxs_map_iter_next(&ib, &kb, &vb);
            if (!CHECK_EQ(na, nb) || na == 0) break;
            if (!CHECKF(ka == kb && va == vb, "trie order differs at entry %zu", steps)) break;
            steps++;
        }
        CHECK_EQ(steps, n);
        /* A different value, a missing key: not the same. */
        tracker *odd = tv_new(h, 2);
        ctxs_map *c = NULL, *d = NULL, *e = NULL;
        CHECK_EQ(ctxs_map_assoc(b, keys[0], odd, &c), CTXS_OK);
        CHECK_EQ(ctxs_map_without(b, keys[1], &d), CTXS_OK);
        CHECK_EQ(ctxs_map_assoc(b, keys[n], odd, &e), CTXS_OK);
        CHECK_EQ(ctxs_map_same_shape(a, c), 0);
        CHECK_EQ(ctxs_map_same_shape(a, d), 0);
        CHECK_EQ(ctxs_map_same_shape(d, a), 0);
        CHECK_EQ(ctxs_map_same_shape(a, e), 0);
        CHECK_EQ(ctxs_map_same_shape(a, empty), 0);
        ctxs_map_release(c);
        ctxs_map_release(d);
        ctxs_map_release(e);
        tv_drop(odd);
        ctxs_map_release(a);
        ctxs_map_release(b);
    }

    for (size_t i = 0; i < POOL; i++) tv_drop(pool[i]);
    free(values);
    free(keys);
    ctxs_map_release(empty);
    CHECK_EQ(stats_of(s).live_nodes, st0.live_nodes);
}

/* =========================================================== model check */

void test_model(harness *h) {
    uint64_t universe[640];
    size_t un = model_universe(universe);
    tracker *pool[MODEL_POOL];
    for (size_t i = 0; i < MODEL_POOL; i++) pool[i] = tv_new(h, 1000000 + i);
    ctxs_map *cur = ctxs_map_new(h->store);
    model cur_m = {0};
    ctxs_map *kept[MODEL_KEPT] = {0};
    model kept_m[MODEL_KEPT];
    memset(kept_m, 0, sizeof kept_m);
    rng r = {0x5EED0001};
    size_t max_count = 0, forks = 0, switches = 0, hits = 0;
    bool ok = true;
    long op;

    for (op = 0; op < MODEL_OPS && ok; op++) {
        uint64_t dice = rng_below(&r, 100);
        uint64_t key = model_pick(&r, universe, un);
        if (dice < 45) {
            bool fresh = rng_next(&r) & 1;
            tracker *value = fresh ? tv_new(h, (uint64_t)op) : pool[rng_below(&r, MODEL_POOL)];
            ctxs_map *out = NULL;
            int rc = ctxs_map_assoc(cur, key, value, &out);
            ok = CHECKF(rc == CTXS_OK, "op %ld: assoc 0x%llx returned %d", op, ull(key), rc);
            if (ok) {
                if (model_get(&cur_m, key) == value)
                    ok = CHECKF(out == cur, "op %ld: assoc of the same value gave a new map", op);
                ctxs_map_release(cur);
                cur = out;
                model_set(&cur_m, key, value);
            }
            if (fresh) tv_drop(value);
        } else if (dice < 75) {
            ctxs_map *out = NULL;
            int rc = ctxs_map_without(cur, key, &out);
            ok = CHECKF(rc == CTXS_OK, "op %ld: without 0x%llx returned %d", op, ull(key), rc);
            if (ok) {
                if (model_del(&cur_m, key))
                    hits++;
                else
                    ok = CHECKF(out == cur, "op %ld: without of an absent key gave a new map", op);
                ctxs_map_release(cur);
                cur = out;
            }
        } else if (dice < 85) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            ok = kept_drop(kept, kept_m, i);
            kept[i] = ctxs_map_fork(cur);
            ok = ok && CHECKF(kept[i] == cur, "op %ld: fork is not the same map", op);
            model_copy(&kept_m[i], &cur_m);
            forks++;
        } else if (dice < 92) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            ok = kept_drop(kept, kept_m, i);
        } else {
            /* Continue from a kept (shared) map, or now and then from empty. */
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            if (rng_below(&r, 2000) == 0) {
                ctxs_map_release(cur);
                cur = ctxs_map_new(h->store);
                model_clear(&cur_m);
            } else if (kept[i] != NULL) {
                ctxs_map_release(cur);
                cur = ctxs_map_fork(kept[i]);
                model_copy(&cur_m, &kept_m[i]);
                switches++;
            }
        }
        if (!ok) break;
        if (cur_m.n > max_count) max_count = cur_m.n;

        ok = CHECKF(ctxs_map_count(cur) == cur_m.n, "op %ld: count %zu, model %zu", op,
                    ctxs_map_count(cur), cur_m.n);
        uint64_t probe = model_pick(&r, universe, un);
        void *value = NULL;
        int found = ctxs_map_find(cur, probe, &value);
        void *expected = model_get(&cur_m, probe);
        ok = ok &&
             CHECKF(found == (expected != NULL) && (found == 0 || value == expected),
                    "op %ld: find 0x%llx: %d %p, model %p", op, ull(probe), found, value, expected);
        if (ok && op % 1024 == 0) {
            ok = MAP_EQUALS(cur, &cur_m);
            /* Canonical form: the same contents built in key order give the same trie. */
            ctxs_map *rebuilt = map_from_model(h, &cur_m);
            ok = ok && CHECKF(ctxs_map_same_shape(cur, rebuilt) == 1,
                              "op %ld: the trie depends on its history", op);
            ctxs_map_release(rebuilt);
        }
        if (ok && op % 8192 == 0) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            if (kept[i] != NULL) ok = MAP_EQUALS(kept[i], &kept_m[i]);
        }
    }
    if (!ok)
        printf("    (model check stopped at op %ld of %d)\n", op, MODEL_OPS);
    else {
        CHECKF(max_count > 200 && forks > 1000 && switches > 1000 && hits > 10000,
               "the model check did not exercise enough: max %zu forks %zu switches %zu hits %zu",
               max_count, forks, switches, hits);
    }

    ok = kept_release(ok, kept, kept_m, MODEL_KEPT);
    if (ok) MAP_EQUALS(cur, &cur_m);
    ctxs_map_release(cur);
    model_free(&cur_m);
    pool_drop(pool, MODEL_POOL);
}

/* ============================================================ in place */

/* Fills a plain slot's pending entries (see slot.h) with keys far from
 * the ones a test writes, so that its writes of new keys go to the map.
 * Returns how many. */
static uint64_t fill_pending(ctxs_slot *slot, void *value) {
    for (uint64_t i = 0; i < CTXS_SLOT_PENDING; i++)
        CHECK_EQ(ctxs_slot_assoc(slot, (UINT64_C(1) << 62) + i, value), CTXS_OK);
    return CTXS_SLOT_PENDING;
}

/* A set of a new key followed by its removal, in a slot whose map only the
 * slot holds (its pending entries full, so the writes go to the map), reallocates no node once
 * warm: nodes keep a spare slot (see capacity_for in hamt.c), so the only allocation is the entry's
 * leaf. The keys are chosen so that the new key's fragment is free at its level. */
void test_in_place(harness *h) {
    static const uint64_t sizes[] = {1, 2, 3, 8, 31, 100, 1000};
    tracker *v = tv_new(h, 1), *w = tv_new(h, 2);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t n = sizes[i];
        ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(slot != NULL);
        uint64_t filled = fill_pending(slot, v);
        for (uint64_t k = 0; k < n; k++) REQUIRE(ctxs_slot_assoc(slot, k, v) == CTXS_OK);
        uint64_t fresh = n; /* 0..n-1 fill their fragments densely; n lands in a free one */
        REQUIRE(ctxs_slot_assoc(slot, fresh, v) == CTXS_OK); /* warm: may grow a node */
        REQUIRE(ctxs_slot_without(slot, fresh) == CTXS_OK);
        size_t nodes = stats_of(h->store).live_nodes;
        uint64_t before = ctxs_store_allocation_count(h->store);
        for (int round = 0; round < 100; round++) {
            CHECK_EQ(ctxs_slot_assoc(slot, fresh, v), CTXS_OK);
            CHECK_EQ(ctxs_slot_without(slot, fresh), CTXS_OK);
        }
        CHECKF(ctxs_store_allocation_count(h->store) - before == 100,
               "n = %llu: %llu allocations for 100 set + remove pairs (want 100 leaves)", ull(n),
               ull(ctxs_store_allocation_count(h->store) - before));
        CHECK_EQ(stats_of(h->store).live_nodes, nodes);
        /* A replacement allocates its leaf only, too. */
        before = ctxs_store_allocation_count(h->store);
        CHECK_EQ(ctxs_slot_assoc(slot, 0, w), CTXS_OK);
        CHECK_EQ(ctxs_store_allocation_count(h->store) - before, 1);
        ctxs_map *snap = NULL;
        REQUIRE(ctxs_slot_snapshot(slot, &snap) == CTXS_OK);
        CHECK_EQ(ctxs_map_count(snap), n + filled);
        CHECK_EQ(ctxs_map_check(snap), 1);
        ctxs_map_release(snap);
        ctxs_slot_release(slot);
    }

    /* A scope's first writes to its map: the root that the first one makes
     * has room for four entries, so the next three (new fragments at level
     * 0) each allocate their leaf only, and no node moves. */
    {
        ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(slot != NULL);
        uint64_t filled = fill_pending(slot, v);
        size_t nodes = stats_of(h->store).live_nodes;
        REQUIRE(ctxs_slot_assoc(slot, 0, v) == CTXS_OK);
        CHECK_EQ(stats_of(h->store).live_nodes, nodes + 1);
        for (uint64_t k = 1; k < 4; k++) {
            uint64_t at = ctxs_store_allocation_count(h->store);
            CHECK_EQ(ctxs_slot_assoc(slot, k, v), CTXS_OK);
            CHECKF(ctxs_store_allocation_count(h->store) - at == 1,
                   "write %llu: %llu allocations (want its leaf)", ull(k + 1),
                   ull(ctxs_store_allocation_count(h->store) - at));
        }
        CHECK_EQ(stats_of(h->store).live_nodes, nodes + 1);
        ctxs_map *snap = NULL;
        REQUIRE(ctxs_slot_snapshot(slot, &snap) == CTXS_OK);
        CHECK_EQ(ctxs_map_count(snap), 4 + filled);
        CHECK_EQ(ctxs_map_check(snap), 1);
        ctxs_map_release(snap);
        ctxs_slot_release(slot);
    }

    /* In place, an allocation failure still changes nothing: a new key (a
     * leaf to allocate) and a replacement, in a slot that owns its map. */
    {
        ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(slot != NULL);
        fill_pending(slot, v);
        for (uint64_t k = 0; k < 5; k++) REQUIRE(ctxs_slot_assoc(slot, k, v) == CTXS_OK);
        ctxs_statistics before = stats_of(h->store);
        ctxs_store_fail_allocation(h->store, 1);
        CHECK_EQ(ctxs_slot_assoc(slot, 9, w), CTXS_ENOMEM);
        ctxs_store_fail_allocation(h->store, 1);
        CHECK_EQ(ctxs_slot_assoc(slot, 2, w), CTXS_ENOMEM);
        ctxs_store_fail_allocation(h->store, 0);
        ctxs_statistics after = stats_of(h->store);
        CHECK_EQ(after.live_values, before.live_values);
        CHECK_EQ(after.live_nodes, before.live_nodes);
        CHECK_EQ(after.bytes_in_use, before.bytes_in_use);
        CHECK_EQ(ctxs_slot_find(slot, 9, NULL), 0);
        void *got = NULL;
        CHECK(ctxs_slot_find(slot, 2, &got) == 1 && got == v);
        if (got != NULL) tv_put(h, got);
        ctxs_slot_release(slot);
    }

    /* Removals give memory back: a node keeps at most one spare grain, so a
     * slot emptied down to a few keys holds what a slot built with just
     * those keys holds. */
    for (uint64_t keep = 1; keep <= 4; keep++) {
        ctxs_slot *shrunk = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(shrunk != NULL);
        fill_pending(shrunk, v);
        for (uint64_t k = 0; k < 30; k++) REQUIRE(ctxs_slot_assoc(shrunk, k, v) == CTXS_OK);
        for (uint64_t k = keep; k < 30; k++) REQUIRE(ctxs_slot_without(shrunk, k) == CTXS_OK);
        size_t shrunk_bytes = stats_of(h->store).bytes_in_use;
        ctxs_slot_release(shrunk);
        ctxs_slot *built = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(built != NULL);
        fill_pending(built, v);
        for (uint64_t k = 0; k < keep; k++) REQUIRE(ctxs_slot_assoc(built, k, v) == CTXS_OK);
        size_t built_bytes = stats_of(h->store).bytes_in_use;
        ctxs_slot_release(built);
        CHECKF(shrunk_bytes <= built_bytes + 16,
               "%llu keys left of 30: %zu bytes held against %zu for a slot built with them",
               ull(keep), shrunk_bytes, built_bytes);
    }
    tv_drop(v);
    tv_drop(w);
    CHECK_EQ(stats_of(h->store).live_nodes, 0);
}
