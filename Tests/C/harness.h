/*
 * harness.h: what every test of the pure-C harness shares.
 *
 * The harness uses the public header, CContextStore.h, and beside it the
 * SPI header, CContextStoreSPI.h, for the test hooks (failing allocations
 * one by one) and the trie's checker. It runs every test once per allocator
 * backend: the arena, malloc, and jemalloc when the build has it (main.c).
 * Each test gets a fresh store whose values are *trackers*: small heap
 * objects with a reference count of their own, freed by the harness when
 * the count drops to zero. A retain the store never balances leaves a
 * tracker behind for LeakSanitizer; one release too many frees it early,
 * which AddressSanitizer reports as a use after free. After each test the
 * runner asserts that every object of the store is gone
 * (ctxs_store_statistics), that the value callbacks balance, and that
 * ctxs_store_destroy says CTXS_OK.
 *
 * The trie hashes a key by its own bits, CTXS_TRIE_BITS per level from the
 * least significant end (level 0: bits 0-4, ..., level 11: bits 55-59,
 * level 12: bits 60-63), so tests pin exact shapes by choosing keys.
 *
 * What Tests/C owns, against the Swift suites of Tests/CContextStoreTests
 * (which drive the same C API from Swift): everything that needs the
 * sanitizers' eyes on the core alone (leaks, use after free, races under
 * TSan), exact trie shapes, every allocation point failed one by one, the
 * three backends, and threads without the Swift runtime. The Swift suites
 * own what the Swift layer relies on (the C API as Swift imports it) and a
 * model check against Dictionary.
 *
 * Files: harness.c (this header's functions: utilities, random numbers,
 * the lifetime tracker, map and slot assertions), map_model.c (the
 * reference model), main.c (the runner), and one test_<area>.c per area.
 */
#ifndef CTXS_TEST_HARNESS_H
#define CTXS_TEST_HARNESS_H

#include "CContextStore.h"
#include "CContextStoreSPI.h"
#include "check.h"
#include "map_model.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ utilities */

void *xcalloc(size_t count, size_t size);

void *xrealloc(void *p, size_t size);

double now_seconds(void);

static inline unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

uint64_t splitmix64(uint64_t x);

/* A splitmix64 stream: fixed seeds make every run the same. */
typedef struct rng {
    uint64_t state;
} rng;

uint64_t rng_next(rng *r);

static inline uint64_t rng_below(rng *r, uint64_t n) { return rng_next(r) % n; }

void shuffle_u64(rng *r, uint64_t *a, size_t n);

int compare_u64(const void *a, const void *b);

/* Sorts and removes duplicates; returns the new length. */
size_t sort_unique_u64(uint64_t *a, size_t n);

/* ------------------------------------------------------------- trackers */

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

bool tracker_valid(value_ledger *ledger, tracker *t, const char *what);

void tracker_unref(tracker *t);

/* options.retain */
void value_retain(void *context, void *value);

/* options.release */
void value_release(void *context, void *value);

/* What a test gets: its store and the ledger of the store's values. */
typedef struct harness {
    ctxs_store *store;
    ctxs_backend backend;
    ctxs_store_options options; /* the store's options, for extra stores of a test */
    value_ledger ledger;
} harness;

/* A new value held once by the harness (drop it with tv_drop). */
tracker *tv_new(harness *h, uint64_t id);

/* Drops the harness's own reference. */
static inline void tv_drop(tracker *t) { tracker_unref(t); }

/* Releases a +1 value handed out by ctxs_slot_find. */
static inline void tv_put(harness *h, void *value) { value_release(&h->ledger, value); }

/* References the store holds on t while the harness holds one too. */
static inline int64_t store_refs(tracker *t) { return atomic_load(&t->refs) - 1; }

static inline uint64_t tv_id(void *value) { return ((tracker *)value)->id; }

ctxs_statistics stats_of(ctxs_store *store);

/* A store like the test's (same callbacks and backend), for cross-store checks. */
static inline ctxs_store *other_store(harness *h) { return ctxs_store_create(&h->options); }

/* --------------------------------------------------- maps against models */

/* Asserts that map holds exactly m: count, a find of every entry, one pass of
 * iteration that yields every entry once, and ctxs_map_check. */
bool map_equals(const ctxs_map *map, const model *m, const char *file, int line);

#define MAP_EQUALS(map, m) map_equals((map), (m), __FILE__, __LINE__)

/* Asserts that the slot reads exactly as m: ctxs_slot_find of every entry
 * (the +1 value is put back) and of every key in `absent` that m lacks, a
 * presence test that retains nothing, and a snapshot equal to m. Single
 * threaded use only (it watches the ledger). */
bool slot_equals(harness *h, ctxs_slot *slot, const model *m, const uint64_t *absent,
                 size_t n_absent, const char *file, int line);

#define SLOT_EQUALS(h, slot, m, absent, n_absent) \
    slot_equals((h), (slot), (m), (absent), (n_absent), __FILE__, __LINE__)

/* A new map (+1) holding m, built from the empty map by assoc in key order. */
ctxs_map *map_from_model(harness *h, const model *m);

/* A structurally independent copy (+1) of map, with the same values. */
ctxs_map *map_copy(harness *h, const ctxs_map *map);

/* Replaces *map by its assoc with key -> value; false when that fails. */
/* Whether `slot` holds `want` under `key` (the read's reference goes back). */
bool slot_holds(harness *h, ctxs_slot *slot, uint64_t key, void *want);
bool assoc_in_place(ctxs_map **map, uint64_t key, void *value);

bool without_in_place(ctxs_map **map, uint64_t key);

/* A map of `keys`, each key with the value of the same index. */
ctxs_map *map_of(harness *h, const uint64_t *keys, void *const *values, size_t n);

/* Whether `id` is interned in `s` under exactly these bytes. */
bool name_is(ctxs_store *s, uint64_t id, const void *bytes, size_t length);

/* ------------------------------------------------------ model checks */

#define MODEL_OPS 200000

#define MODEL_KEPT 64

#define MODEL_POOL 64

/* Keys 0..511 (the first 512, sorted) plus keys that share long low-bit
 * prefixes with them, so the trie gets deep and removals collapse it. */
size_t model_universe(uint64_t *u);

uint64_t model_pick(rng *r, const uint64_t *u, size_t n);

/* Drops kept map i of a model check (NULL: none): checks it against its
 * model, releases it and sets it to NULL. Returns whether it matched. */
bool kept_drop(ctxs_map **kept, model *kept_m, size_t i);

/* The end of a model check: checks each kept map (NULL: none) against its
 * model while `ok`, then releases both. Returns ok, false after a mismatch. */
bool kept_release(bool ok, ctxs_map **kept, model *kept_m, size_t n);

/* The end of a model check: checks that every value of the pool had as many
 * releases as retains, then drops the harness's reference. */
void pool_drop(tracker **pool, size_t n);

/* ------------------------------------------------ the tests, by area file */

/* test_trie.c */
void test_store_basics(harness *h);
void test_persistence(harness *h);
void test_shape(harness *h);
void test_model(harness *h);
void test_in_place(harness *h);
/* test_slots.c */
void test_slot_model(harness *h);
void test_slot_pending(harness *h);
void test_slot_copy_failure(harness *h);
void test_slot_borrow(harness *h);
void test_slots_plain(harness *h);
void test_slot_untouched(harness *h);
void test_slot_borrowed(harness *h);
void test_slot_contended_read(harness *h);
/* test_chains.c */
void test_slots_chained(harness *h);
void test_slot_chain(harness *h);
/* test_refcount.c */
void test_refcount(harness *h);
/* test_alloc_failure.c */
void test_alloc_failure(harness *h);
/* test_interning.c */
void test_interning(harness *h);
void test_intern_cache(harness *h);
/* test_threads.c */
void test_threads_slot(harness *h);
void test_threads_fork(harness *h);
void test_threads_untouched(harness *h);
void test_threads_intern(harness *h);
/* test_spares.c */
void test_spares(harness *h);
void test_spare_borrowing(harness *h);
/* test_backends.c */
void test_jemalloc_reuse(harness *h);

#endif /* CTXS_TEST_HARNESS_H */
