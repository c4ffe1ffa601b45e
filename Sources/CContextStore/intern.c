/*
 * Key interning: name bytes -> stable 64-bit id, and back.
 *
 * Readers take no lock. The name table is open addressing with linear
 * probing over atomic pointers; a writer (under the mutex) fills an empty
 * cell with a fully built name using a release store, and grows by building
 * a complete new table and publishing it. Replaced tables and index arrays
 * are kept on a retired list until the store is destroyed, so a reader that
 * still walks one never touches freed memory; they add up to less than the
 * live table, since each is half the size of the next.
 *
 * Ids are id_of_counter(counter) for counter = 1, 2, ...: the counter's
 * low 5 bits as they are, the bits above through a bijection. So ids are
 * distinct and never 0 (a counter with low bits 0 is at least 32, and the
 * bijection keeps 0 only for 0), and the trie uses them as its hash (see
 * hamt.c, "Hashing", for why the low bits stay plain). counter_of_id turns
 * an id back into its counter to find its name.
 *
 * Names live as long as the store: an interned name cannot be removed, like
 * the interned strings of most language runtimes. The number of names is the
 * number of distinct key names a program uses.
 *
 * Invariants:
 *  - table holds every published name, at most half full; index->names[i]
 *    is the name of counter i + 1 for every i < count.
 *  - A name, table or index array is never changed after it is published,
 *    except a table's empty cells, which a writer fills once.
 *  - Nothing published is freed before ctxs_interner_destroy.
 */
#define _DEFAULT_SOURCE /* getentropy */
#include "intern.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A bijective 64-bit mix (the SplitMix64 finaliser), for the name hash. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/* A bijection on 59-bit values (a multiply-xorshift mix, each step
 * invertible modulo 2^59) and its inverse: the bits of an id above the
 * trie's root fragment. */
_Static_assert(CTXS_TRIE_BITS == 5, "ids keep 5 plain bits and spread 59");
#define ROOT_MASK ((UINT64_C(1) << CTXS_TRIE_BITS) - 1)
#define SPREAD_MASK ((UINT64_C(1) << 59) - 1)

static uint64_t spread59(uint64_t y) {
    y = (y * UINT64_C(0x758476d1ce4e5b9)) & SPREAD_MASK;
    y ^= y >> 29;
    y = (y * UINT64_C(0x4d049bb133111eb)) & SPREAD_MASK;
    y ^= y >> 32;
    return y;
}

static uint64_t unspread59(uint64_t y) {
    y ^= y >> 32;
    y = (y * UINT64_C(0x19642b2d24d8ec3)) & SPREAD_MASK;
    y ^= (y >> 29) ^ (y >> 58);
    y = (y * UINT64_C(0x6de1b173f119089)) & SPREAD_MASK;
    return y;
}

/* A counter's id, and back: the counter's low 5 bits (the trie's root
 * fragment) as they are, the rest spread (see hamt.c, "Hashing"). */
static inline uint64_t id_of_counter(uint64_t counter) {
    return (spread59(counter >> CTXS_TRIE_BITS) << CTXS_TRIE_BITS) | (counter & ROOT_MASK);
}

static inline uint64_t counter_of_id(uint64_t id) {
    return (unspread59(id >> CTXS_TRIE_BITS) << CTXS_TRIE_BITS) | (id & ROOT_MASK);
}

/* A seeded hash over 8-byte words; the seed keeps hostile names (from
 * headers, say) from being chosen to collide. */
static uint64_t hash_bytes(uint64_t seed, const unsigned char *p, size_t n) {
    uint64_t h = seed ^ (n * UINT64_C(0x9e3779b97f4a7c15));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w);
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    if (n > 0) memcpy(&tail, p, n);
    return mix64(h ^ tail ^ ((uint64_t)n << 56));
}

static ctxs_name_table *table_new(ctxs_heap *heap, size_t capacity) {
    size_t bytes = sizeof(ctxs_name_table) + capacity * sizeof(_Atomic(ctxs_name *));
    ctxs_name_table *t = ctxs_malloc(heap, bytes);
    if (t == NULL) return NULL;
    t->retired_next = NULL;
    t->mask = capacity - 1;
    for (size_t i = 0; i < capacity; i++) atomic_init(&t->slots[i], NULL);
    return t;
}

static size_t table_bytes(const ctxs_name_table *t) {
    return sizeof(ctxs_name_table) + (t->mask + 1) * sizeof(_Atomic(ctxs_name *));
}

static ctxs_name_index *index_new(ctxs_heap *heap, size_t capacity) {
    ctxs_name_index *x =
        ctxs_malloc(heap, sizeof(ctxs_name_index) + capacity * sizeof(ctxs_name *));
    if (x == NULL) return NULL;
    x->retired_next = NULL;
    x->capacity = capacity;
    return x;
}

static size_t index_bytes(const ctxs_name_index *x) {
    return sizeof(ctxs_name_index) + x->capacity * sizeof(ctxs_name *);
}

int ctxs_interner_init(ctxs_interner *interner, ctxs_heap *heap) {
    interner->heap = heap;
    uint64_t seed = 0;
    if (getentropy(&seed, sizeof seed) != 0) {
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)interner;
    }
    interner->seed = mix64(seed);
    if (pthread_mutex_init(&interner->lock, NULL) != 0) return CTXS_ENOMEM;
    ctxs_name_table *table = table_new(heap, 64);
    ctxs_name_index *index = index_new(heap, 32);
    if (table == NULL || index == NULL) {
        if (table != NULL) ctxs_mfree(heap, table, table_bytes(table));
        if (index != NULL) ctxs_mfree(heap, index, index_bytes(index));
        pthread_mutex_destroy(&interner->lock);
        return CTXS_ENOMEM;
    }
    atomic_init(&interner->table, table);
    atomic_init(&interner->index, index);
    atomic_init(&interner->count, 0);
    interner->retired = NULL;
    for (size_t i = 0; i < CTXS_KEY_CACHE_ENTRIES + CTXS_CHECKED_CACHE_ENTRIES; i++) {
        ctxs_key_cache_entry *e = i < CTXS_KEY_CACHE_ENTRIES
                                      ? &interner->cache[i]
                                      : &interner->checked[i - CTXS_KEY_CACHE_ENTRIES];
        atomic_init(&e->version, 0);
        atomic_init(&e->key0, 0);
        atomic_init(&e->key1, 0);
        atomic_init(&e->value, 0);
    }
    return CTXS_OK;
}

void ctxs_interner_destroy(ctxs_interner *interner) {
    ctxs_heap *heap = interner->heap;
    ctxs_name_table *table = atomic_load(&interner->table);
    ctxs_name_index *index = atomic_load(&interner->index);
    size_t count = atomic_load(&interner->count);
    for (size_t i = 0; i < count; i++) {
        ctxs_name *name = index->names[i];
        ctxs_mfree(heap, name, sizeof *name + name->length);
    }
    /* Retired tables and arrays both start with their list link; their
     * sizes are recomputed from their own headers, which say which is which
     * by the size of the allocation. Keep the kinds apart with a tag bit. */
    void *r = interner->retired;
    while (r != NULL) {
        uintptr_t tagged = (uintptr_t)r;
        void *object = (void *)(tagged & ~(uintptr_t)1);
        void *next = *(void **)object;
        if (tagged & 1) {
            ctxs_mfree(heap, object, index_bytes(object));
        } else {
            ctxs_mfree(heap, object, table_bytes(object));
        }
        r = next;
    }
    ctxs_mfree(heap, table, table_bytes(table));
    ctxs_mfree(heap, index, index_bytes(index));
    pthread_mutex_destroy(&interner->lock);
}

static ctxs_name *table_find(const ctxs_name_table *t, uint64_t hash, const void *bytes,
                             size_t length) {
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        ctxs_name *name = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (name == NULL) return NULL;
        if (name->hash == hash && name->length == length &&
            (length == 0 || memcmp(name->bytes, bytes, length) == 0)) {
            return name;
        }
    }
}

static void table_put(ctxs_name_table *t, ctxs_name *name) {
    size_t i = name->hash & t->mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed) != NULL) i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], name, memory_order_release);
}

int ctxs_interner_find(ctxs_interner *in, const void *bytes, size_t length, uint64_t *id) {
    uint64_t hash = hash_bytes(in->seed, bytes, length);
    ctxs_name *name =
        table_find(atomic_load_explicit(&in->table, memory_order_acquire), hash, bytes, length);
    if (name == NULL) return 0;
    *id = name->id;
    return 1;
}

int ctxs_interner_intern(ctxs_interner *in, const void *bytes, size_t length, uint64_t *id) {
    ctxs_heap *heap = in->heap;
    uint64_t hash = hash_bytes(in->seed, bytes, length);
    ctxs_name *name =
        table_find(atomic_load_explicit(&in->table, memory_order_acquire), hash, bytes, length);
    if (name != NULL) {
        *id = name->id;
        return CTXS_OK;
    }
    pthread_mutex_lock(&in->lock);
    ctxs_name_table *table = atomic_load_explicit(&in->table, memory_order_relaxed);
    name = table_find(table, hash, bytes, length); /* another writer may have won */
    if (name != NULL) {
        pthread_mutex_unlock(&in->lock);
        *id = name->id;
        return CTXS_OK;
    }
    size_t count = atomic_load_explicit(&in->count, memory_order_relaxed);
    ctxs_name_index *index = atomic_load_explicit(&in->index, memory_order_relaxed);

    /* Allocate everything first, so a failure changes nothing. */
    ctxs_name_table *bigger = NULL;
    ctxs_name_index *longer = NULL;
    if ((count + 1) * 2 > table->mask + 1) {
        bigger = table_new(heap, (table->mask + 1) * 2);
        if (bigger == NULL) goto fail;
    }
    if (count + 1 > index->capacity) {
        longer = index_new(heap, index->capacity * 2);
        if (longer == NULL) goto fail;
    }
    name = ctxs_malloc(heap, sizeof *name + length);
    if (name == NULL) goto fail;
    name->id = id_of_counter(count + 1);
    name->hash = hash;
    name->length = length;
    if (length > 0) memcpy(name->bytes, bytes, length);

    if (bigger != NULL) {
        for (size_t i = 0; i <= table->mask; i++) {
            ctxs_name *n = atomic_load_explicit(&table->slots[i], memory_order_relaxed);
            if (n != NULL) table_put(bigger, n);
        }
        table->retired_next = in->retired;
        in->retired = table;
        atomic_store_explicit(&in->table, bigger, memory_order_release);
        table = bigger;
    }
    if (longer != NULL) {
        memcpy(longer->names, index->names, count * sizeof(ctxs_name *));
        index->retired_next = in->retired;
        in->retired = (void *)((uintptr_t)index | 1);
        atomic_store_explicit(&in->index, longer, memory_order_release);
        index = longer;
    }
    index->names[count] = name;
    atomic_store_explicit(&in->count, count + 1, memory_order_release);
    table_put(table, name);
    pthread_mutex_unlock(&in->lock);
    *id = name->id;
    return CTXS_OK;

fail:
    if (bigger != NULL) ctxs_mfree(heap, bigger, table_bytes(bigger));
    if (longer != NULL) ctxs_mfree(heap, longer, index_bytes(longer));
    pthread_mutex_unlock(&in->lock);
    return CTXS_ENOMEM;
}

/* The name interned as `id`, or NULL if no name was. */
static const ctxs_name *name_of(ctxs_interner *in, uint64_t id) {
    uint64_t counter = counter_of_id(id);
    size_t count = atomic_load_explicit(&in->count, memory_order_acquire);
    if (counter == 0 || counter > count) return NULL;
    ctxs_name_index *index = atomic_load_explicit(&in->index, memory_order_acquire);
    return index->names[counter - 1];
}

int ctxs_interner_name(ctxs_interner *in, uint64_t id, const void **bytes, size_t *length) {
    const ctxs_name *name = name_of(in, id);
    if (name == NULL) return 0;
    *bytes = name->bytes;
    *length = name->length;
    return 1;
}

/* ------------------------------------------------------------ key cache */

/* The cache is a seqlock per entry (Boehm, "Can seqlocks get along with
 * programming language memory models?", 2012): a reader takes the entry
 * only if its version was even and unchanged around the reads, so it never
 * pairs one key with another's value; a writer claims the entry by moving
 * the version from even to odd with a CAS, and gives up if another writer
 * holds it (the cache is lossy). Every field is atomic, so TSan sees no
 * race.
 *
 * Two tables of such entries. In `cache`, a key stands for one name for
 * good (a small or immortal Swift String's words) and the entry holds the
 * id. In `checked`, a key may come to stand for other bytes (a heap
 * String's words: its storage's address, reused once it is freed, or
 * edited in place), so the entry holds the id's name, and a find compares
 * the name's bytes with the caller's: it can only find the id of the bytes
 * the caller has now. Names are never freed before the store, so a name
 * that a consistent read returns can be read; it was published (count,
 * release) before name_of found it for the put, whose version store
 * (release) the reader's first load acquires. Checked keys have their own
 * table so that names read once (a header's, say) cannot push literals'
 * entries out. */

/* ctxs_key_cache_index spreads a key over a table's entries, and
 * ctxs_key_cache_read reads one consistently (CContextStoreSPI.h: there,
 * so that the Swift layer's probe is inline). */

static inline void entry_write(ctxs_key_cache_entry *e, uint64_t key0, uint64_t key1,
                               uint64_t value) {
    uint64_t version = atomic_load_explicit(&e->version, memory_order_relaxed);
    if ((version & 1) != 0 ||
        !atomic_compare_exchange_strong_explicit(&e->version, &version, version + 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        return; /* another writer has it */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->key0, key0, memory_order_relaxed);
    atomic_store_explicit(&e->key1, key1, memory_order_relaxed);
    atomic_store_explicit(&e->value, value, memory_order_relaxed);
    atomic_store_explicit(&e->version, version + 2, memory_order_release);
}

static inline ctxs_key_cache_entry *cache_entry(ctxs_interner *in, uint64_t key0, uint64_t key1) {
    return &in->cache[ctxs_key_cache_index(key0, key1) & (CTXS_KEY_CACHE_ENTRIES - 1)];
}

static inline ctxs_key_cache_entry *checked_entry(ctxs_interner *in, uint64_t key0, uint64_t key1) {
    return &in->checked[ctxs_key_cache_index(key0, key1) & (CTXS_CHECKED_CACHE_ENTRIES - 1)];
}

int ctxs_interner_cache_find(ctxs_interner *in, uint64_t key0, uint64_t key1, uint64_t *id) {
    uint64_t found = ctxs_key_cache_read(cache_entry(in, key0, key1), key0, key1);
    if (found == 0) return 0;
    *id = found;
    return 1;
}

void ctxs_interner_cache_put(ctxs_interner *in, uint64_t key0, uint64_t key1, uint64_t id) {
    entry_write(cache_entry(in, key0, key1), key0, key1, id);
}

int ctxs_interner_cache_find_checked(ctxs_interner *in, uint64_t key0, uint64_t key1,
                                     const void *bytes, size_t length, uint64_t *id) {
    const ctxs_name *name = (const ctxs_name *)(uintptr_t)ctxs_key_cache_read(
        checked_entry(in, key0, key1), key0, key1);
    if (name == NULL || name->length != length ||
        (length > 0 && memcmp(name->bytes, bytes, length) != 0))
        return 0;
    *id = name->id;
    return 1;
}

void ctxs_interner_cache_put_checked(ctxs_interner *in, uint64_t key0, uint64_t key1, uint64_t id) {
    const ctxs_name *name = name_of(in, id);
    if (name == NULL) return; /* no id of this store's */
    entry_write(checked_entry(in, key0, key1), key0, key1, (uint64_t)(uintptr_t)name);
}
