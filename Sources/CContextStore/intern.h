/*
 * intern.h: key interning (intern.c). Layer 3, above the allocation front,
 * beside the trie: it hands out the key ids the trie uses as hashes, and
 * neither calls the other.
 */
#ifndef CTXS_INTERN_H
#define CTXS_INTERN_H

#include "CContextStoreSPI.h"
#include "alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ctxs_name {
    uint64_t id;           /* immutable: id_of_counter(counter) (intern.c) */
    uint64_t hash;         /* immutable: the seeded hash of bytes */
    size_t length;         /* immutable */
    unsigned char bytes[]; /* immutable */
} ctxs_name;

typedef struct ctxs_name_table {
    void *retired_next; /* list of replaced tables, freed with the store */
    size_t mask;        /* capacity - 1; capacity is a power of two */
    _Atomic(ctxs_name *) slots[];
} ctxs_name_table;

typedef struct ctxs_name_index {
    void *retired_next; /* list of replaced arrays, freed with the store */
    size_t capacity;
    ctxs_name *names[]; /* names[i] has counter i + 1; written before count is published */
} ctxs_name_index;

/* ctxs_key_cache_entry and CTXS_KEY_CACHE_ENTRIES: CContextStoreSPI.h. */
#define CTXS_CHECKED_CACHE_ENTRIES 64u /* a power of two */

typedef struct ctxs_interner {
    ctxs_heap *heap;                  /* immutable: where names and tables come from */
    pthread_mutex_t lock;             /* serialises writers; readers take no lock */
    uint64_t seed;                    /* immutable: per-store hash seed */
    _Atomic(ctxs_name_table *) table; /* published with release, never freed while live */
    _Atomic(ctxs_name_index *) index; /* likewise */
    _Atomic size_t count;             /* names published; release after names[count-1] */
    void *retired;                    /* guarded by lock: replaced tables and arrays */
    ctxs_key_cache_entry cache[CTXS_KEY_CACHE_ENTRIES]; /* lossy; each entry is its own seqlock */
    ctxs_key_cache_entry checked[CTXS_CHECKED_CACHE_ENTRIES]; /* likewise, for checked keys */
} ctxs_interner;

/* Sets up an empty interner whose memory comes from `heap`.
 * Returns CTXS_OK or CTXS_ENOMEM (nothing to destroy then). */
int ctxs_interner_init(ctxs_interner *interner, ctxs_heap *heap);

/* Frees every name and table; ids handed out become meaningless. */
void ctxs_interner_destroy(ctxs_interner *interner);

/* The three operations behind ctxs_intern, ctxs_intern_find and
 * ctxs_intern_name (see CContextStore.h for their contracts). */
int ctxs_interner_intern(ctxs_interner *interner, const void *bytes, size_t length, uint64_t *id);
int ctxs_interner_find(ctxs_interner *interner, const void *bytes, size_t length, uint64_t *id);
int ctxs_interner_name(ctxs_interner *interner, uint64_t id, const void **bytes, size_t *length);

/* ctxs_intern_cache_find, _put, _find_checked and _put_checked (see
 * CContextStoreSPI.h). */
int ctxs_interner_cache_find(ctxs_interner *interner, uint64_t key0, uint64_t key1, uint64_t *id);
void ctxs_interner_cache_put(ctxs_interner *interner, uint64_t key0, uint64_t key1, uint64_t id);
int ctxs_interner_cache_find_checked(ctxs_interner *interner, uint64_t key0, uint64_t key1,
                                     const void *bytes, size_t length, uint64_t *id);
void ctxs_interner_cache_put_checked(ctxs_interner *interner, uint64_t key0, uint64_t key1,
                                     uint64_t id);

/* Names interned so far. */
static inline size_t ctxs_interner_count(ctxs_interner *interner) {
    return atomic_load_explicit(&interner->count, memory_order_acquire);
}

#endif /* CTXS_INTERN_H */
