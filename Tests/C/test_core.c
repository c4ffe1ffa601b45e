/*
 * test_core.c: the pure-C harness of CContextStore.
 *
 * It uses only the public header, CContextStore.h, and runs every test once
 * per allocator backend: the arena, malloc, and jemalloc when the build has
 * it. Each test gets a fresh store whose values are *trackers*: small heap
 * objects with a reference count of their own, freed by the harness when the
 * count drops to zero. A retain the store never balances leaves a tracker
 * behind for LeakSanitizer; one release too many frees it early, which
 * AddressSanitizer reports as a use after free. After each test the runner
 * asserts that every object of the store is gone (ctxs_store_statistics),
 * that the value callbacks balance, and that ctxs_store_destroy says CTXS_OK.
 *
 * The trie hashes a key by its own bits, 5 per level from the least
 * significant end (level 0: bits 0-4, ..., level 11: bits 55-59, level 12:
 * bits 60-63), so tests pin exact shapes by choosing keys.
 *
 * Usage:  test_core [FILTER...]   runs the tests whose name contains one of
 *         the FILTERs (all when none is given) and none of the -FILTERs.
 * Output: one PASS/FAIL line per test and backend, every failed check as
 * file:line, and last the line "N passed, N failed". Exit status 1 when a
 * test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include "CContextStore.h"
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define HAVE_SANITIZER_DEATH_CALLBACK 1
#endif
#endif

/* Seconds one test may take (per backend) before the harness gives up. */
#define TEST_TIMEOUT_SECONDS 900
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* ============================================================ utilities */

static void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "test_core: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "test_core: out of memory\n");
        abort();
    }
    return p;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

/* --------------------------------------------------------- random numbers */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* A splitmix64 stream: fixed seeds make every run the same. */
typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) {
    r->state += 0x9E3779B97F4A7C15ull;
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(rng *r, uint64_t n) { return rng_next(r) % n; }

static void shuffle_u64(rng *r, uint64_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and removes duplicates; returns the new length. */
static size_t sort_unique_u64(uint64_t *a, size_t n) {
    qsort(a, n, sizeof *a, compare_u64);
    size_t out = 0;
    for (size_t i = 0; i < n; i++)
        if (out == 0 || a[out - 1] != a[i]) a[out++] = a[i];
    return out;
}

/* ============================================================= trackers */

#define TRACKER_MAGIC 0x7EAC4E12u

/* Per-store totals of the value callbacks. */
typedef struct value_ledger {
    _Atomic uint64_t retains;  /* options.retain calls */
    _Atomic uint64_t releases; /* options.release calls */
    _Atomic int64_t live;      /* trackers allocated and not yet freed */
} value_ledger;

typedef struct tracker tracker;
typedef void (*tracker_hook)(tracker *t, void *arg);

/* A value. Freed when refs drops to 0. */
struct tracker {
    uint32_t magic;           /* TRACKER_MAGIC while allocated */
    value_ledger *ledger;     /* the ledger of the store it was made for */
    uint64_t id;              /* chosen by the test */
    _Atomic int64_t refs;     /* 1 while the harness holds it, + 1 per store reference */
    _Atomic int64_t retains;  /* options.retain calls for this value */
    _Atomic int64_t releases; /* options.release calls for this value */
    tracker_hook on_release;  /* run once from a release callback, then cleared */
    void *hook_arg;           /* passed to on_release */
    tracker_hook on_retain;   /* run once from a retain callback, then cleared */
    void *retain_hook_arg;    /* passed to on_retain */
};

static bool tracker_valid(value_ledger *ledger, tracker *t, const char *what) {
    if (!CHECKF(t != NULL, "%s callback with a NULL value", what)) return false;
    if (!CHECKF(t->magic == TRACKER_MAGIC,
                "%s callback with a value that is not a live tracker (%p)", what, (void *)t))
        return false;
    return CHECKF(t->ledger == ledger, "%s callback of a store with another store's value %p", what,
                  (void *)t);
}

static void tracker_unref(tracker *t) {
    int64_t before = atomic_fetch_sub(&t->refs, 1);
    CHECKF(before > 0, "value %llu released below zero", ull(t->id));
    if (before == 1) {
        t->magic = 0;
        atomic_fetch_sub(&t->ledger->live, 1);
        free(t);
    }
}

/* options.retain */
static void value_retain(void *context, void *value) {
    value_ledger *ledger = context;
    tracker *t = value;
    if (!tracker_valid(ledger, t, "retain")) return;
    int64_t before = atomic_fetch_add(&t->refs, 1);
    CHECKF(before > 0, "retain of value %llu whose count was %lld", ull(t->id), (long long)before);
    atomic_fetch_add(&t->retains, 1);
    atomic_fetch_add(&ledger->retains, 1);
    tracker_hook hook = t->on_retain;
    if (hook != NULL) {
        t->on_retain = NULL;
        hook(t, t->retain_hook_arg);
    }
}

/* options.release */
static void value_release(void *context, void *value) {
    value_ledger *ledger = context;
    tracker *t = value;
    if (!tracker_valid(ledger, t, "release")) return;
    atomic_fetch_add(&t->releases, 1);
    atomic_fetch_add(&ledger->releases, 1);
    tracker_hook hook = t->on_release;
    if (hook != NULL) {
        t->on_release = NULL;
        hook(t, t->hook_arg);
    }
    tracker_unref(t);
}

/* ============================================================== harness */

/* What a test gets: its store and the ledger of the store's values. */
typedef struct harness {
    ctxs_store *store;
    ctxs_backend backend;
    ctxs_store_options options; /* the store's options, for extra stores of a test */
    value_ledger ledger;
} harness;

/* A new value held once by the harness (drop it with tv_drop). */
static tracker *tv_new(harness *h, uint64_t id) {
    tracker *t = xcalloc(1, sizeof *t);
    t->magic = TRACKER_MAGIC;
    t->ledger = &h->ledger;
    t->id = id;
    atomic_init(&t->refs, 1);
    atomic_fetch_add(&h->ledger.live, 1);
    return t;
}

/* Drops the harness's own reference. */
static void tv_drop(tracker *t) { tracker_unref(t); }

/* Releases a +1 value handed out by ctxs_slot_find. */
static void tv_put(harness *h, void *value) { value_release(&h->ledger, value); }

/* References the store holds on t while the harness holds one too. */
static int64_t store_refs(tracker *t) { return atomic_load(&t->refs) - 1; }

static uint64_t tv_id(void *value) { return ((tracker *)value)->id; }

static ctxs_statistics stats_of(ctxs_store *store) {
    ctxs_statistics st;
    memset(&st, 0xA5, sizeof st);
    ctxs_store_statistics(store, &st);
    return st;
}

/* A store like the test's (same callbacks and backend), for cross-store checks. */
static ctxs_store *other_store(harness *h) { return ctxs_store_create(&h->options); }

/* ================================================================ model */

typedef struct entry {
    uint64_t key;
    void *value;
} entry;

/* The reference map: entries sorted by key. Zero-initialised is empty. */
typedef struct model {
    entry *e;
    size_t n, cap;
} model;

static size_t model_lower(const model *m, uint64_t key) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->e[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void *model_get(const model *m, uint64_t key) {
    size_t i = model_lower(m, key);
    return i < m->n && m->e[i].key == key ? m->e[i].value : NULL;
}

static void model_reserve(model *m, size_t cap) {
    if (cap <= m->cap) return;
    size_t c = m->cap ? m->cap : 16;
    while (c < cap) c *= 2;
    m->e = xrealloc(m->e, c * sizeof *m->e);
    m->cap = c;
}

static void model_set(model *m, uint64_t key, void *value) {
    size_t i = model_lower(m, key);
    if (i < m->n && m->e[i].key == key) {
        m->e[i].value = value;
        return;
    }
    model_reserve(m, m->n + 1);
    memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof *m->e);
    m->e[i].key = key;
    m->e[i].value = value;
    m->n++;
}

static bool model_del(model *m, uint64_t key) {
    size_t i = model_lower(m, key);
    if (i == m->n || m->e[i].key != key) return false;
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
    m->n--;
    return true;
}

static void model_copy(model *dst, const model *src) {
    model_reserve(dst, src->n);
    if (src->n) memcpy(dst->e, src->e, src->n * sizeof *src->e);
    dst->n = src->n;
}

static void model_clear(model *m) { m->n = 0; }

static void model_free(model *m) {
    free(m->e);
    memset(m, 0, sizeof *m);
}

static void model_from_map(model *m, const ctxs_map *map) {
    model_clear(m);
    ctxs_map_iter it;
    uint64_t key;
    void *value;
    ctxs_map_iter_init(&it, map);
    while (ctxs_map_iter_next(&it, &key, &value)) model_set(m, key, value);
}

/* Asserts that map holds exactly m: count, a find of every entry, one pass of
 * iteration that yields every entry once, and ctxs_map_check. */
static bool map_equals(const ctxs_map *map, const model *m, const char *file, int line) {
    bool ok = true;
    size_t count = ctxs_map_count(map);
    ok &= check_report(file, line, count == m->n, "map count %zu, expected %zu", count, m->n);
    for (size_t i = 0; i < m->n; i++) {
        void *value = NULL;
        int found = ctxs_map_find(map, m->e[i].key, &value);
        if (found != 1 || value != m->e[i].value) {
            ok = check_report(file, line, false,
                              "find of key 0x%llx: returned %d, value %p; expected 1, value %p",
                              ull(m->e[i].key), found, value, m->e[i].value);
            break;
        }
    }
    unsigned char *seen = xcalloc(m->n + 1, 1);
    ctxs_map_iter it;
    uint64_t key;
    void *value;
    size_t n = 0;
    bool iter_ok = true;
    ctxs_map_iter_init(&it, map);
    while (ctxs_map_iter_next(&it, &key, &value)) {
        if (++n > m->n + 16) {
            iter_ok = check_report(file, line, false, "iteration does not end");
            break;
        }
        size_t i = model_lower(m, key);
        if (i == m->n || m->e[i].key != key) {
            iter_ok = check_report(file, line, false, "iteration yields key 0x%llx, not in the map",
                                   ull(key));
            break;
        }
        if (seen[i]) {
            iter_ok =
                check_report(file, line, false, "iteration yields key 0x%llx twice", ull(key));
            break;
        }
        seen[i] = 1;
        if (value != m->e[i].value) {
            iter_ok = check_report(file, line, false,
                                   "iteration yields key 0x%llx with value %p, expected %p",
                                   ull(key), value, m->e[i].value);
            break;
        }
    }
    if (iter_ok)
        iter_ok = check_report(file, line, n == m->n, "iteration yields %zu entries, expected %zu",
                               n, m->n);
    free(seen);
    ok &= iter_ok;
    ok &= check_report(file, line, ctxs_map_check(map) == 1, "ctxs_map_check failed");
    return ok;
}
#define MAP_EQUALS(map, m) map_equals((map), (m), __FILE__, __LINE__)

/* Asserts that the slot reads exactly as m: ctxs_slot_find of every entry
 * (the +1 value is put back) and of every key in `absent` that m lacks, a
 * presence test that retains nothing, and a snapshot equal to m. Single
 * threaded use only (it watches the ledger). */
static bool slot_equals(harness *h, ctxs_slot *slot, const model *m, const uint64_t *absent,
                        size_t n_absent, const char *file, int line) {
    bool ok = true;
    for (size_t i = 0; i < m->n; i++) {
        void *value = NULL;
        int found = ctxs_slot_find(slot, m->e[i].key, &value);
        if (found == 1) tv_put(h, value);
        if (found != 1 || value != m->e[i].value) {
            ok =
                check_report(file, line, false,
                             "slot find of key 0x%llx: returned %d, value %p; expected 1, value %p",
                             ull(m->e[i].key), found, value, m->e[i].value);
            break;
        }
        uint64_t retains = atomic_load(&h->ledger.retains);
        found = ctxs_slot_find(slot, m->e[i].key, NULL);
        ok &= check_report(file, line, found == 1, "slot presence test of key 0x%llx returned %d",
                           ull(m->e[i].key), found);
        ok &= check_report(file, line, atomic_load(&h->ledger.retains) == retains,
                           "slot presence test retained the value");
    }
    for (size_t i = 0; i < n_absent; i++) {
        if (model_get(m, absent[i]) != NULL) continue;
        void *value = NULL;
        int found = ctxs_slot_find(slot, absent[i], &value);
        if (found == 1) tv_put(h, value);
        ok &= check_report(file, line, found == 0, "slot find of absent key 0x%llx returned %d",
                           ull(absent[i]), found);
        ok &= check_report(file, line, ctxs_slot_find(slot, absent[i], NULL) == 0,
                           "slot presence test of absent key 0x%llx", ull(absent[i]));
    }
    ctxs_map *snap = NULL;
    int rc = ctxs_slot_snapshot(slot, &snap);
    ok &= check_report(file, line, rc == CTXS_OK && snap != NULL, "ctxs_slot_snapshot returned %d",
                       rc);
    if (rc == CTXS_OK && snap != NULL) {
        ok &= map_equals(snap, m, file, line);
        ctxs_map_release(snap);
    }
    return ok;
}
#define SLOT_EQUALS(h, slot, m, absent, n_absent) \
    slot_equals((h), (slot), (m), (absent), (n_absent), __FILE__, __LINE__)

/* A new map (+1) holding m, built from the empty map by assoc in key order. */
static ctxs_map *map_from_model(harness *h, const model *m) {
    ctxs_map *map = ctxs_map_new(h->store);
    for (size_t i = 0; i < m->n; i++) {
        ctxs_map *next = NULL;
        int rc = ctxs_map_assoc(map, m->e[i].key, m->e[i].value, &next);
        if (!CHECKF(rc == CTXS_OK, "assoc while building a map: %d", rc)) break;
        ctxs_map_release(map);
        map = next;
    }
    return map;
}

/* A structurally independent copy (+1) of map, with the same values. */
static ctxs_map *map_copy(harness *h, const ctxs_map *map) {
    model m = {0};
    model_from_map(&m, map);
    ctxs_map *copy = map_from_model(h, &m);
    model_free(&m);
    return copy;
}

/* Replaces *map by its assoc with key -> value; false when that fails. */
static bool assoc_in_place(ctxs_map **map, uint64_t key, void *value) {
    ctxs_map *next = NULL;
    int rc = ctxs_map_assoc(*map, key, value, &next);
    if (!CHECKF(rc == CTXS_OK, "ctxs_map_assoc(0x%llx) returned %d", ull(key), rc)) return false;
    ctxs_map_release(*map);
    *map = next;
    return true;
}

static bool without_in_place(ctxs_map **map, uint64_t key) {
    ctxs_map *next = NULL;
    int rc = ctxs_map_without(*map, key, &next);
    if (!CHECKF(rc == CTXS_OK, "ctxs_map_without(0x%llx) returned %d", ull(key), rc)) return false;
    ctxs_map_release(*map);
    *map = next;
    return true;
}

/* A map of `keys`, each key with the value of the same index. */
static ctxs_map *map_of(harness *h, const uint64_t *keys, void *const *values, size_t n) {
    ctxs_map *map = ctxs_map_new(h->store);
    for (size_t i = 0; i < n; i++) assoc_in_place(&map, keys[i], values[i]);
    return map;
}

/* =========================================================== store basics */

static void test_store_basics(harness *h) {
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

static void test_persistence(harness *h) {
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

static void test_shape(harness *h) {
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

#define MODEL_OPS 200000
#define MODEL_KEPT 64
#define MODEL_POOL 64

/* Keys 0..511 (the first 512, sorted) plus keys that share long low-bit
 * prefixes with them, so the trie gets deep and removals collapse it. */
static size_t model_universe(uint64_t *u) {
    size_t n = 0;
    for (uint64_t k = 0; k < 512; k++) u[n++] = k;
    for (uint64_t j = 1; j < 16; j++) u[n++] = 7 | (j << 60); /* share bits 0-59 with 7 */
    for (uint64_t j = 1; j <= 8; j++) u[n++] = 3 | (j << 35); /* share bits 0-34 with 3 */
    for (uint64_t j = 0; j < 8; j++)
        u[n++] = (1ull << 63) | (j * 32 + 1); /* share bits 0-62 with 1, 33, 65, ... */
    for (uint64_t j = 0; j < 32; j++) u[n++] = splitmix64(j) | (1ull << 40);
    return sort_unique_u64(u, n);
}

static uint64_t model_pick(rng *r, const uint64_t *u, size_t n) {
    return rng_below(r, 100) < 75 ? u[rng_below(r, 512)] : u[512 + rng_below(r, n - 512)];
}

static void test_model(harness *h) {
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
            if (kept[i] != NULL) {
                ok = MAP_EQUALS(kept[i], &kept_m[i]);
                ctxs_map_release(kept[i]);
            }
            kept[i] = ctxs_map_fork(cur);
            ok = ok && CHECKF(kept[i] == cur, "op %ld: fork is not the same map", op);
            model_copy(&kept_m[i], &cur_m);
            forks++;
        } else if (dice < 92) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            if (kept[i] != NULL) {
                ok = MAP_EQUALS(kept[i], &kept_m[i]);
                ctxs_map_release(kept[i]);
                kept[i] = NULL;
            }
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

    for (size_t i = 0; i < MODEL_KEPT; i++) {
        if (kept[i] != NULL && ok) ok = MAP_EQUALS(kept[i], &kept_m[i]);
        ctxs_map_release(kept[i]);
        model_free(&kept_m[i]);
    }
    if (ok) MAP_EQUALS(cur, &cur_m);
    ctxs_map_release(cur);
    model_free(&cur_m);
    for (size_t i = 0; i < MODEL_POOL; i++) {
        CHECKF(atomic_load(&pool[i]->retains) == atomic_load(&pool[i]->releases),
               "pool value %zu: %lld retains, %lld releases", i,
               (long long)atomic_load(&pool[i]->retains),
               (long long)atomic_load(&pool[i]->releases));
        tv_drop(pool[i]);
    }
}

/* The model check again, through a slot: the slot writes its map in place
 * while nothing else holds it, and copies paths once a snapshot shares it.
 * Snapshots are taken, kept, dropped and restored at random so that writes
 * hit every mix of exclusive and shared levels. */
static void test_slot_model(harness *h) {
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
            if (kept[i] != NULL) {
                ok = MAP_EQUALS(kept[i], &kept_m[i]);
                ctxs_map_release(kept[i]);
            }
            kept[i] = NULL;
            ok = ok && CHECK(ctxs_slot_snapshot(slot, &kept[i]) == CTXS_OK);
            model_copy(&kept_m[i], &cur_m);
            snapshots++;
        } else if (dice < 97) {
            size_t i = (size_t)rng_below(&r, MODEL_KEPT);
            if (kept[i] != NULL) {
                ok = MAP_EQUALS(kept[i], &kept_m[i]);
                ctxs_map_release(kept[i]);
                kept[i] = NULL;
            }
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
    for (size_t i = 0; i < MODEL_KEPT; i++) {
        if (kept[i] != NULL && ok) ok = MAP_EQUALS(kept[i], &kept_m[i]);
        ctxs_map_release(kept[i]);
        model_free(&kept_m[i]);
    }
    ctxs_slot_release(slot);
    model_free(&cur_m);
    for (size_t i = 0; i < MODEL_POOL; i++) {
        CHECKF(atomic_load(&pool[i]->retains) == atomic_load(&pool[i]->releases),
               "pool value %zu: %lld retains, %lld releases", i,
               (long long)atomic_load(&pool[i]->retains),
               (long long)atomic_load(&pool[i]->releases));
        tv_drop(pool[i]);
    }
}

/* Borrowed reads and the memo. */
static void test_slot_borrow(harness *h) {
    ctxs_store *s = h->store;
    tracker *a = tv_new(h, 1), *b = tv_new(h, 2), *m1 = tv_new(h, 3), *m2 = tv_new(h, 4);
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
    CHECK_EQ(ctxs_slot_clear(child), CTXS_OK);
    ctxs_slot_release(child);
    ctxs_slot_release(parent); /* drops the memo too */
    CHECK_EQ(atomic_load(&m2->retains), atomic_load(&m2->releases));
    tv_drop(a);
    tv_drop(b);
    tv_drop(m1);
    tv_drop(m2);
}

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

static void test_refcount(harness *h) {
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
    tracker *own[3]; /* values the chained layer sets */
    ctxs_slot *parent, *slot;
    model view; /* the slot's effective contents after setup */
} slot_fixture;

static void fixture_setup(slot_fixture *f) {
    harness *h = f->h;
    model_from_map(&f->view, f->base);
    f->parent = NULL;
    if (!f->chained) {
        f->slot = ctxs_slot_create(h->store, f->base, NULL);
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

static const uint64_t slot_probe_keys[] = {0, 2, 3, 4, 5, 25, 33, 100, 101, 999, 1057};

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

static void test_alloc_failure(harness *h) {
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
    for (int chained = 0; chained < 2; chained++) {
        slot_fixture f;
        memset(&f, 0, sizeof f);
        f.h = h;
        f.base = fixture;
        f.chained = chained;
        memcpy(f.own, own, sizeof own);
        const char *prefix = chained ? "chained slot" : "plain slot";
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
    /* 40 operations with one or more allocation points each, and 300 interns. */
    CHECKF(injected_failures >= 200, "only %llu allocation failures were injected",
           ull(injected_failures));

    ctxs_map_release(single);
    ctxs_map_release(empty);
    ctxs_map_release(fixture);
    for (int i = 0; i < 3; i++) tv_drop(own[i]);
    for (int i = 0; i < NV; i++) tv_drop(v[i]);
    tv_drop(nv);
}

/* ================================================================= slots */

static void test_slots_plain(harness *h) {
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

static void test_slots_chained(harness *h) {
    ctxs_store *s = h->store;
    const uint64_t probes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    const size_t np = sizeof probes / sizeof *probes;
    tracker *t[32];
    for (int i = 0; i < 32; i++) t[i] = tv_new(h, (uint64_t)i);
    model pv = {0}, cv = {0}; /* the parent's and the child's views */

    ctxs_slot *parent = ctxs_slot_create(s, NULL, NULL);
    REQUIRE(parent != NULL);
    for (uint64_t k = 1; k <= 3; k++) {
        CHECK_EQ(ctxs_slot_assoc(parent, k, t[k]), CTXS_OK);
        model_set(&pv, k, t[k]);
    }
    ctxs_slot *child = ctxs_slot_create(s, NULL, parent);
    REQUIRE(child != NULL);
    CHECK_EQ(ctxs_slot_depth(child), 1);
    CHECK_EQ(ctxs_slot_depth(parent), 0);
    CHECK_PTR_EQ(ctxs_slot_parent(child), parent);
    model_copy(&cv, &pv);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* The parent is live: its later writes show through. */
    CHECK_EQ(ctxs_slot_assoc(parent, 4, t[4]), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(parent, 1, t[11]), CTXS_OK);
    model_set(&pv, 4, t[4]);
    model_set(&pv, 1, t[11]);
    model_set(&cv, 4, t[4]);
    model_set(&cv, 1, t[11]);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* Child writes stay in the child. */
    CHECK_EQ(ctxs_slot_assoc(child, 2, t[12]), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(child, 5, t[5]), CTXS_OK);
    model_set(&cv, 2, t[12]);
    model_set(&cv, 5, t[5]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);

    /* A removal in the child hides the inherited key, for good. */
    CHECK_EQ(ctxs_slot_without(child, 3), CTXS_OK);
    model_del(&cv, 3);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(parent, 3, t[13]), CTXS_OK);
    model_set(&pv, 3, t[13]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(child, 3, t[14]), CTXS_OK);
    model_set(&cv, 3, t[14]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 3), CTXS_OK); /* hidden again, not the parent's */
    model_del(&cv, 3);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 9), CTXS_OK); /* absent everywhere */
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_without(child, 5), CTXS_OK); /* the child's own */
    model_del(&cv, 5);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* A grandchild sees the child's merged view. */
    ctxs_slot *grandchild = ctxs_slot_create(s, NULL, child);
    REQUIRE(grandchild != NULL);
    CHECK_EQ(ctxs_slot_depth(grandchild), 2);
    model gv = {0};
    model_copy(&gv, &cv);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    CHECK_EQ(ctxs_slot_without(grandchild, 4), CTXS_OK);
    CHECK_EQ(ctxs_slot_assoc(grandchild, 6, t[6]), CTXS_OK);
    model_del(&gv, 4);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    SLOT_EQUALS(h, child, &cv, probes, np);

    /* Clear hides everything inherited; later child writes show. */
    CHECK_EQ(ctxs_slot_clear(child), CTXS_OK);
    model_clear(&cv);
    SLOT_EQUALS(h, child, &cv, probes, np);
    SLOT_EQUALS(h, parent, &pv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(child, 6, t[16]), CTXS_OK);
    model_set(&cv, 6, t[16]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    /* Parent writes after the clear stay hidden too (the layer is opaque). */
    CHECK_EQ(ctxs_slot_assoc(parent, 7, t[7]), CTXS_OK);
    model_set(&pv, 7, t[7]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    /* The grandchild: its own layer over the child's new view. */
    model_copy(&gv, &cv);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);

    /* Replace: the map becomes the layer; a later snapshot equals it. */
    ctxs_map *m = ctxs_map_new(s);
    assoc_in_place(&m, 8, t[8]);
    assoc_in_place(&m, 9, t[9]);
    CHECK_EQ(ctxs_slot_replace(child, m), CTXS_OK);
    model_clear(&cv);
    model_set(&cv, 8, t[8]);
    model_set(&cv, 9, t[9]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    CHECK_EQ(ctxs_slot_assoc(parent, 10, t[10]), CTXS_OK);
    model_set(&pv, 10, t[10]);
    SLOT_EQUALS(h, child, &cv, probes, np);
    ctxs_map *snap = NULL;
    CHECK_EQ(ctxs_slot_snapshot(child, &snap), CTXS_OK);
    CHECK(snap != NULL && ctxs_map_same_shape(snap, m) == 1);
    ctxs_map_release(snap);
    ctxs_map_release(m);

    /* A fresh child over a parent with content: snapshot == parent's map. */
    ctxs_slot *fresh = ctxs_slot_create(s, NULL, parent);
    REQUIRE(fresh != NULL);
    SLOT_EQUALS(h, fresh, &pv, probes, np);
    ctxs_map *ps = NULL, *fs = NULL;
    CHECK_EQ(ctxs_slot_snapshot(parent, &ps), CTXS_OK);
    CHECK_EQ(ctxs_slot_snapshot(fresh, &fs), CTXS_OK);
    CHECK(ps != NULL && fs != NULL && ctxs_map_same_shape(ps, fs) == 1);
    ctxs_map_release(ps);
    ctxs_map_release(fs);
    ctxs_slot_release(fresh);

    /* The children keep their parents alive. */
    ctxs_slot_release(parent);
    CHECK_EQ(stats_of(s).live_slots, 3);
    CHECK_PTR_EQ(ctxs_slot_parent(child), parent);
    ctxs_slot_release(child);
    model_copy(&gv, &cv);
    model_set(&gv, 6, t[6]);
    SLOT_EQUALS(h, grandchild, &gv, probes, np);
    ctxs_slot_release(grandchild);
    CHECK_EQ(stats_of(s).live_slots, 0);

    for (int i = 0; i < 32; i++) tv_drop(t[i]);
    model_free(&pv);
    model_free(&cv);
    model_free(&gv);
}

/* A chain of 64 slots. Level i sets 1000+i; every level i % 4 == 1 hides
 * its parent's key; level 32 overrides level 0's. */
#define CHAIN 64

static void chain_view(model *view, tracker **own, tracker *override, int cleared_level,
                       tracker *base_extra) {
    model_clear(view);
    for (int i = 0; i <= CHAIN; i++) {
        if (i == cleared_level) model_clear(view);
        if (i == 0 && base_extra != NULL) model_set(view, 5000, base_extra);
        if (i == cleared_level) continue; /* the cleared layer holds nothing */
        model_set(view, 1000 + (uint64_t)i, own[i]);
        if (i % 4 == 1) model_del(view, 1000 + (uint64_t)i - 1);
        if (i == 32) model_set(view, 1000, override);
    }
}

static void test_slot_chain(harness *h) {
    ctxs_store *s = h->store;
    ctxs_slot *slots[CHAIN + 1];
    tracker *own[CHAIN + 1];
    tracker *override = tv_new(h, 5), *extra = tv_new(h, 6);
    uint64_t probes[CHAIN + 3];
    for (int i = 0; i <= CHAIN; i++) {
        own[i] = tv_new(h, 1000 + (uint64_t)i);
        probes[i] = 1000 + (uint64_t)i;
    }
    probes[CHAIN + 1] = 5000;
    probes[CHAIN + 2] = 1;
    for (int i = 0; i <= CHAIN; i++) {
        slots[i] = ctxs_slot_create(s, NULL, i ? slots[i - 1] : NULL);
        REQUIRE(slots[i] != NULL);
        CHECK_EQ(ctxs_slot_depth(slots[i]), i);
        CHECK_EQ(ctxs_slot_assoc(slots[i], 1000 + (uint64_t)i, own[i]), CTXS_OK);
        if (i % 4 == 1) CHECK_EQ(ctxs_slot_without(slots[i], 1000 + (uint64_t)i - 1), CTXS_OK);
        if (i == 32) CHECK_EQ(ctxs_slot_assoc(slots[i], 1000, override), CTXS_OK);
    }
    CHECK_EQ(stats_of(s).live_slots, CHAIN + 1);
    model view = {0};
    chain_view(&view, own, override, -1, NULL);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* A write at the bottom shows at the top. */
    CHECK_EQ(ctxs_slot_assoc(slots[0], 5000, extra), CTXS_OK);
    chain_view(&view, own, override, -1, extra);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* Clearing level 10 cuts off levels 0..10 for everyone above. */
    CHECK_EQ(ctxs_slot_clear(slots[10]), CTXS_OK);
    chain_view(&view, own, override, 10, extra);
    SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);

    /* Release bottom-up: each child keeps its parent. */
    for (int i = 0; i <= CHAIN; i++) {
        ctxs_slot_release(slots[i]);
        if (i == CHAIN / 2) SLOT_EQUALS(h, slots[CHAIN], &view, probes, CHAIN + 3);
    }
    CHECK_EQ(stats_of(s).live_slots, 0);
    model_free(&view);
    for (int i = 0; i <= CHAIN; i++) tv_drop(own[i]);
    tv_drop(override);
    tv_drop(extra);
}

/* ============================================================= interning */

static bool name_is(ctxs_store *s, uint64_t id, const void *bytes, size_t length) {
    const void *got = NULL;
    size_t got_length = 12345;
    if (ctxs_intern_name(s, id, &got, &got_length) != 1) return false;
    return got_length == length && (length == 0 || memcmp(got, bytes, length) == 0);
}

static void test_interning(harness *h) {
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
        free(sorted);
        free(ids);
    }
}

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

static void test_threads_slot(harness *h) {
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

static void test_threads_fork(harness *h) {
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

static void test_threads_intern(harness *h) {
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

/* ============================================================ in place */

/* A set of a new key followed by its removal, in a slot whose map only the
 * slot holds, reallocates no node once warm: nodes keep a spare slot (see
 * capacity_for in hamt.c), so the only allocation is the entry's leaf. The
 * keys are chosen so that the new key's fragment is free at its level. */
static void test_in_place(harness *h) {
    static const uint64_t sizes[] = {1, 2, 3, 8, 31, 100, 1000};
    tracker *v = tv_new(h, 1), *w = tv_new(h, 2);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t n = sizes[i];
        ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(slot != NULL);
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
        CHECK_EQ(ctxs_map_count(snap), n);
        CHECK_EQ(ctxs_map_check(snap), 1);
        ctxs_map_release(snap);
        ctxs_slot_release(slot);
    }

    /* In place, an allocation failure still changes nothing: a new key (a
     * leaf to allocate) and a replacement, in a slot that owns its map. */
    {
        ctxs_slot *slot = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(slot != NULL);
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
        for (uint64_t k = 0; k < 30; k++) REQUIRE(ctxs_slot_assoc(shrunk, k, v) == CTXS_OK);
        for (uint64_t k = keep; k < 30; k++) REQUIRE(ctxs_slot_without(shrunk, k) == CTXS_OK);
        size_t shrunk_bytes = stats_of(h->store).bytes_in_use;
        ctxs_slot_release(shrunk);
        ctxs_slot *built = ctxs_slot_create(h->store, NULL, NULL);
        REQUIRE(built != NULL);
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

static void test_spares(harness *h) {
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

/* ============================================================= backends */

#ifdef CTXS_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

/* jemalloc's own metadata in bytes, or 0 if its statistics are not built in. */
static size_t jemalloc_metadata(void) {
    uint64_t epoch = 1;
    size_t length = sizeof epoch;
    if (mallctl("epoch", &epoch, &length, &epoch, length) != 0) return 0;
    size_t bytes = 0;
    length = sizeof bytes;
    if (mallctl("stats.metadata", &bytes, &length, NULL, 0) != 0) return 0;
    return bytes;
}

/* Makes a jemalloc store, fills a map of 200 entries, frees it all. */
static void jemalloc_store_cycle(void) {
    ctxs_store_options o;
    memset(&o, 0, sizeof o);
    o.backend = CTXS_BACKEND_JEMALLOC;
    ctxs_store *s = ctxs_store_create(&o);
    if (!CHECK(s != NULL)) return;
    static int unowned;
    ctxs_map *m = ctxs_map_new(s);
    for (uint64_t k = 1; k <= 200; k++) assoc_in_place(&m, k, &unowned);
    ctxs_map_release(m);
    CHECK_EQ(ctxs_store_destroy(s), CTXS_OK);
}
#endif

/* Stores made and destroyed one after another do not grow jemalloc's
 * metadata: a destroyed store's arena is reset and reused. (Destroying the
 * arena instead left about 4 KiB behind per store in jemalloc 5.3; the
 * fuzzer, which makes a store per input, found it.) Runs once, as part of
 * the jemalloc backend's pass. */
static void test_jemalloc_reuse(harness *h) {
    if (h->backend != CTXS_BACKEND_JEMALLOC) return;
#ifdef CTXS_WITH_JEMALLOC
    for (int i = 0; i < 8; i++) jemalloc_store_cycle(); /* jemalloc's first-use metadata */
    size_t before = jemalloc_metadata();
    if (before == 0) {
        printf("(jemalloc statistics not built in: jemalloc_reuse checks nothing)\n");
        return;
    }
    enum { CYCLES = 512 };
    for (int i = 0; i < CYCLES; i++) jemalloc_store_cycle();
    size_t after = jemalloc_metadata();
    /* Destroyed arenas would add >= 4 KiB each, 2 MiB in all. */
    CHECKF(after < before + 64 * 1024,
           "jemalloc metadata grew from %zu to %zu bytes over %d stores", before, after, CYCLES);
#endif
}

/* ================================================================ runner */

typedef void (*test_fn)(harness *h);

static const struct {
    const char *name;
    test_fn fn;
} tests[] = {
    {"store_basics", test_store_basics},
    {"persistence", test_persistence},
    {"shape", test_shape},
    {"model", test_model},
    {"slot_model", test_slot_model},
    {"slot_borrow", test_slot_borrow},
    {"refcount", test_refcount},
    {"alloc_failure", test_alloc_failure},
    {"slots_plain", test_slots_plain},
    {"slots_chained", test_slots_chained},
    {"slot_chain_64", test_slot_chain},
    {"interning", test_interning},
    {"threads_slot", test_threads_slot},
    {"threads_fork", test_threads_fork},
    {"threads_intern", test_threads_intern},
    {"in_place", test_in_place},
    {"spares", test_spares},
    {"jemalloc_reuse", test_jemalloc_reuse},
};

/* The run so far, for a summary line even when a sanitizer ends the process. */
static int run_passed, run_failed;
static const char *run_current; /* "backend/test" being run, or NULL */
static char run_current_name[96];
static bool run_summary_printed;

#ifdef HAVE_SANITIZER_DEATH_CALLBACK
/* A sanitizer error (halt_on_error) ends the process: blame the running test
 * and still print the summary line. */
static void on_sanitizer_death(void) {
    if (run_summary_printed) return; /* LeakSanitizer at exit, after the summary */
    if (run_current != NULL)
        printf("FAIL %s (sanitizer error, report on stderr; the run stops here)\n", run_current);
    printf("%d passed, %d failed\n", run_passed, run_failed + (run_current != NULL));
    fflush(stdout);
}
#endif

static void on_timeout(int signal_number) {
    (void)signal_number;
    static const char message[] = "\ntest_core: TIMEOUT: a test ran longer than " STRINGIFY(
        TEST_TIMEOUT_SECONDS) " s (a deadlock?)\n";
    ssize_t ignored = write(STDOUT_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(3);
}

/* Runs one test on a fresh store, then checks that it left nothing behind. */
static bool run_test(size_t t, ctxs_backend backend, const char *backend_name) {
    harness h;
    memset(&h, 0, sizeof h);
    h.backend = backend;
    h.options.retain = value_retain;
    h.options.release = value_release;
    h.options.context = &h.ledger;
    h.options.backend = backend;
    check_begin(tests[t].name, backend_name);
    snprintf(run_current_name, sizeof run_current_name, "%s/%s", backend_name, tests[t].name);
    run_current = run_current_name;
    double start = now_seconds();
    alarm(TEST_TIMEOUT_SECONDS);

    h.store = ctxs_store_create(&h.options);
    if (CHECK(h.store != NULL)) {
        tests[t].fn(&h);
        ctxs_statistics st = stats_of(h.store);
        CHECK_EQ(st.live_roots, 0);
        CHECK_EQ(st.live_nodes, 0);
        CHECK_EQ(st.live_values, 0);
        CHECK_EQ(st.live_slots, 0);
        CHECK_EQ(atomic_load(&h.ledger.retains), atomic_load(&h.ledger.releases));
        CHECKF(atomic_load(&h.ledger.live) == 0, "%lld values still alive",
               (long long)atomic_load(&h.ledger.live));
        CHECK_EQ(ctxs_store_destroy(h.store), CTXS_OK);
    }
#ifdef HAVE_LSAN
    /* LeakSanitizer reports old leaks again at every check, so only the
     * first test that leaks is blamed; the check at exit still fails the run. */
    static bool leaked;
    if (!leaked && __lsan_do_recoverable_leak_check() != 0) {
        leaked = true;
        CHECKF(false, "LeakSanitizer found leaks (report on stderr); later tests are not "
                      "leak-checked one by one");
    }
#endif
    alarm(0);
    bool passed = check_failures() == 0;
    run_current = NULL;
    printf("%s %s/%s (%.2f s)\n", passed ? "PASS" : "FAIL", backend_name, tests[t].name,
           now_seconds() - start);
    return passed;
}

/* Whether the arguments select a test: a name matches FILTER by substring. */
static bool selected(const char *name, int argc, char **argv) {
    bool any_positive = false, positive_match = false;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strstr(name, argv[i] + 1) != NULL) return false;
        } else {
            any_positive = true;
            positive_match |= strstr(name, argv[i]) != NULL;
        }
    }
    return !any_positive || positive_match;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_timeout);
#ifdef HAVE_SANITIZER_DEATH_CALLBACK
    __sanitizer_set_death_callback(on_sanitizer_death);
#endif

    const struct {
        ctxs_backend backend;
        const char *name;
    } backends[] = {
        {CTXS_BACKEND_ARENA, "arena"},
        {CTXS_BACKEND_MALLOC, "malloc"},
        {CTXS_BACKEND_JEMALLOC, "jemalloc"},
    };
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        if (backends[b].backend == CTXS_BACKEND_JEMALLOC && !ctxs_have_jemalloc()) {
            printf("(jemalloc backend not built in: skipped)\n");
            continue;
        }
        for (size_t t = 0; t < sizeof tests / sizeof *tests; t++) {
            if (!selected(tests[t].name, argc - 1, argv + 1)) continue;
            if (run_test(t, backends[b].backend, backends[b].name))
                run_passed++;
            else
                run_failed++;
        }
    }
    printf("%d passed, %d failed\n", run_passed, run_failed);
    fflush(stdout);
    run_summary_printed = true;
    return run_failed ? 1 : 0;
}
