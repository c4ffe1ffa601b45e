/* harness.c: the functions of harness.h. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "test_core: out of memory\n");
        abort();
    }
    return p;
}

void *xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "test_core: out of memory\n");
        abort();
    }
    return p;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t rng_next(rng *r) {
    r->state += 0x9E3779B97F4A7C15ull;
    uint64_t z = r->state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void shuffle_u64(rng *r, uint64_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t sort_unique_u64(uint64_t *a, size_t n) {
    qsort(a, n, sizeof *a, compare_u64);
    size_t out = 0;
    for (size_t i = 0; i < n; i++)
        if (out == 0 || a[out - 1] != a[i]) a[out++] = a[i];
    return out;
}

bool tracker_valid(value_ledger *ledger, tracker *t, const char *what) {
    if (!CHECKF(t != NULL, "%s callback with a NULL value", what)) return false;
    if (!CHECKF(t->magic == TRACKER_MAGIC,
                "%s callback with a value that is not a live tracker (%p)", what, (void *)t))
        return false;
    return CHECKF(t->ledger == ledger, "%s callback of a store with another store's value %p", what,
                  (void *)t);
}

void tracker_unref(tracker *t) {
    int64_t before = atomic_fetch_sub(&t->refs, 1);
    CHECKF(before > 0, "value %llu released below zero", ull(t->id));
    if (before == 1) {
        t->magic = 0;
        atomic_fetch_sub(&t->ledger->live, 1);
        free(t);
    }
}

void value_retain(void *context, void *value) {
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

void value_release(void *context, void *value) {
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

tracker *tv_new(harness *h, uint64_t id) {
    tracker *t = xcalloc(1, sizeof *t);
    t->magic = TRACKER_MAGIC;
    t->ledger = &h->ledger;
    t->id = id;
    atomic_init(&t->refs, 1);
    atomic_fetch_add(&h->ledger.live, 1);
    return t;
}

ctxs_statistics stats_of(ctxs_store *store) {
    ctxs_statistics st;
    memset(&st, 0xA5, sizeof st);
    ctxs_store_statistics(store, &st);
    return st;
}

bool map_equals(const ctxs_map *map, const model *m, const char *file, int line) {
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

bool slot_equals(harness *h, ctxs_slot *slot, const model *m, const uint64_t *absent,
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

ctxs_map *map_from_model(harness *h, const model *m) {
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

ctxs_map *map_copy(harness *h, const ctxs_map *map) {
    model m = {0};
    model_from_map(&m, map);
    ctxs_map *copy = map_from_model(h, &m);
    model_free(&m);
    return copy;
}

bool assoc_in_place(ctxs_map **map, uint64_t key, void *value) {
    ctxs_map *next = NULL;
    int rc = ctxs_map_assoc(*map, key, value, &next);
    if (!CHECKF(rc == CTXS_OK, "ctxs_map_assoc(0x%llx) returned %d", ull(key), rc)) return false;
    ctxs_map_release(*map);
    *map = next;
    return true;
}

bool without_in_place(ctxs_map **map, uint64_t key) {
    ctxs_map *next = NULL;
    int rc = ctxs_map_without(*map, key, &next);
    if (!CHECKF(rc == CTXS_OK, "ctxs_map_without(0x%llx) returned %d", ull(key), rc)) return false;
    ctxs_map_release(*map);
    *map = next;
    return true;
}

ctxs_map *map_of(harness *h, const uint64_t *keys, void *const *values, size_t n) {
    ctxs_map *map = ctxs_map_new(h->store);
    for (size_t i = 0; i < n; i++) assoc_in_place(&map, keys[i], values[i]);
    return map;
}

size_t model_universe(uint64_t *u) {
    size_t n = 0;
    for (uint64_t k = 0; k < 512; k++) u[n++] = k;
    for (uint64_t j = 1; j < 16; j++) u[n++] = 7 | (j << 60); /* share bits 0-59 with 7 */
    for (uint64_t j = 1; j <= 8; j++) u[n++] = 3 | (j << 35); /* share bits 0-34 with 3 */
    for (uint64_t j = 0; j < 8; j++)
        u[n++] = (1ull << 63) | (j * 32 + 1); /* share bits 0-62 with 1, 33, 65, ... */
    for (uint64_t j = 0; j < 32; j++) u[n++] = splitmix64(j) | (1ull << 40);
    return sort_unique_u64(u, n);
}

uint64_t model_pick(rng *r, const uint64_t *u, size_t n) {
    return rng_below(r, 100) < 75 ? u[rng_below(r, 512)] : u[512 + rng_below(r, n - 512)];
}

bool name_is(ctxs_store *s, uint64_t id, const void *bytes, size_t length) {
    const void *got = NULL;
    size_t got_length = 12345;
    if (ctxs_intern_name(s, id, &got, &got_length) != 1) return false;
    return got_length == length && (length == 0 || memcmp(got, bytes, length) == 0);
}

bool kept_drop(ctxs_map **kept, model *kept_m, size_t i) {
    if (kept[i] == NULL) return true;
    bool ok = MAP_EQUALS(kept[i], &kept_m[i]);
    ctxs_map_release(kept[i]);
    kept[i] = NULL;
    return ok;
}

bool kept_release(bool ok, ctxs_map **kept, model *kept_m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (kept[i] != NULL && ok) ok = MAP_EQUALS(kept[i], &kept_m[i]);
        ctxs_map_release(kept[i]);
        model_free(&kept_m[i]);
    }
    return ok;
}

void pool_drop(tracker **pool, size_t n) {
    for (size_t i = 0; i < n; i++) {
        CHECKF(atomic_load(&pool[i]->retains) == atomic_load(&pool[i]->releases),
               "pool value %zu: %lld retains, %lld releases", i,
               (long long)atomic_load(&pool[i]->retains),
               (long long)atomic_load(&pool[i]->releases));
        tv_drop(pool[i]);
    }
}

bool slot_holds(harness *h, ctxs_slot *slot, uint64_t key, void *want) {
    void *got = NULL;
    int found = ctxs_slot_find(slot, key, &got);
    if (got != NULL) tv_put(h, got);
    return found == 1 && got == want;
}
