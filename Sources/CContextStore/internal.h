/*
 * Private declarations shared by the .c files of CContextStore: object
 * layouts, the spin lock, the allocator interface and the key mix.
 */
#ifndef CTXS_INTERNAL_H
#define CTXS_INTERNAL_H

#include "CContextStore.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#define CTXS_LIKELY(x) __builtin_expect(!!(x), 1)
#define CTXS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Hot paths are built twice, with and without the POPCNT instruction, and
 * the loader picks one (an ifunc): the trie counts bits at every level, and
 * baseline x86-64 has no POPCNT, so the portable build would spend ~15
 * instructions per count. SwiftPM forbids per-target -m flags in a package
 * others depend on, so this is done per function. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CTXS_NO_CLONES 1 /* TSan's runtime is not up when ifunc resolvers run */
#endif
#endif
#if defined(__x86_64__) && !defined(__POPCNT__) && defined(__ELF__) && !defined(CTXS_NO_CLONES)
#define CTXS_HOT __attribute__((target_clones("popcnt", "default")))
#else
#define CTXS_HOT
#endif

/* ------------------------------------------------------------- spin lock */

/* A test-and-test-and-set lock that yields the CPU after a short spin.
 * Critical sections here are a few hundred instructions at most and never
 * call user callbacks that may block, so a spin beats a futex: one xchg to
 * take it, a plain store to drop it (measured: 4.5 ns uncontended). The
 * yield keeps a preempted holder from being starved on 2 vCPUs. */
#if defined(__x86_64__) || defined(__i386__)
#define CTXS_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CTXS_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CTXS_CPU_RELAX() ((void)0)
#endif

typedef struct ctxs_lock {
    _Atomic int held; /* 1 while some thread is inside the critical section */
} ctxs_lock;

static inline void ctxs_lock_acquire(ctxs_lock *lock) {
    while (atomic_exchange_explicit(&lock->held, 1, memory_order_acquire)) {
        unsigned spins = 0;
        while (atomic_load_explicit(&lock->held, memory_order_relaxed)) {
            if (++spins < 64) {
                CTXS_CPU_RELAX();
            } else {
                sched_yield();
            }
        }
    }
}

static inline void ctxs_lock_release(ctxs_lock *lock) {
    atomic_store_explicit(&lock->held, 0, memory_order_release);
}

/* ----------------------------------------------------------- allocation */

/* What an allocation is for; each kind has its own live counter. */
typedef enum ctxs_kind {
    CTXS_KIND_ROOT = 0, /* struct ctxs_map */
    CTXS_KIND_NODE,     /* struct ctxs_node */
    CTXS_KIND_LEAF,     /* struct ctxs_leaf holding a value */
    CTXS_KIND_TOMB,     /* struct ctxs_leaf with a NULL value (a chained slot's removal) */
    CTXS_KIND_SLOT,     /* struct ctxs_slot */
    CTXS_KIND_OTHER,    /* tables, names, scratch arrays */
    CTXS_KIND_COUNT
} ctxs_kind;

#define CTXS_ARENA_GRAIN 16u   /* size classes are multiples of this */
#define CTXS_ARENA_CLASSES 17u /* 16, 32, ..., 272 bytes */
#define CTXS_ARENA_MAX (CTXS_ARENA_GRAIN * CTXS_ARENA_CLASSES)
#define CTXS_ARENA_CHUNK (64u * 1024u) /* bytes taken from malloc at a time */

/* One size class of the arena backend. Padded to a cache line so that
 * threads allocating different sizes do not share one. */
typedef struct ctxs_pool {
    ctxs_lock lock;
    void *free_list;              /* guarded by lock: freed objects, linked through word 0 */
    char *bump;                   /* guarded by lock: next unused byte of the newest chunk */
    char *end;                    /* guarded by lock: end of the newest chunk */
    void *chunks;                 /* guarded by lock: every chunk, linked through word 0 */
    size_t live[CTXS_KIND_COUNT]; /* guarded by lock: live objects of each kind */
    size_t reserved;              /* guarded by lock: bytes of all chunks */
} __attribute__((aligned(64))) ctxs_pool;

typedef struct ctxs_arena {
    ctxs_backend backend;                 /* immutable: never CTXS_BACKEND_DEFAULT */
    unsigned jemalloc_arena;              /* immutable: the dedicated arena (jemalloc only) */
    _Atomic size_t live[CTXS_KIND_COUNT]; /* malloc/jemalloc: live objects of each kind */
    _Atomic size_t bytes;                 /* malloc/jemalloc: bytes of live objects */
    ctxs_pool pools[CTXS_ARENA_CLASSES];  /* arena backend only */
} ctxs_arena;

int ctxs_arena_init(ctxs_arena *arena, ctxs_backend backend);
void ctxs_arena_destroy(ctxs_arena *arena);
void *ctxs_arena_alloc(ctxs_arena *arena, size_t size, ctxs_kind kind);
void ctxs_arena_free(ctxs_arena *arena, void *ptr, size_t size, ctxs_kind kind);
/* Adds the arena's live counts per kind to live[], and its byte figures. */
/* The bytes an allocation of `size` counts for in the statistics. */
size_t ctxs_arena_accounted_size(const ctxs_arena *arena, size_t size);
void ctxs_arena_statistics(ctxs_arena *arena, size_t live[CTXS_KIND_COUNT], size_t *in_use,
                           size_t *reserved);

/* ---------------------------------------------------------------- objects */

/* A trie node. slots[] holds popcount(datamap) leaves, then
 * popcount(nodemap) children. Immutable once published. */
typedef struct ctxs_node {
    _Atomic uint32_t refs; /* maps and parent nodes holding this node */
    uint32_t datamap;      /* bit i: fragment i is an inline leaf */
    uint32_t nodemap;      /* bit i: fragment i is a child node; disjoint from datamap */
    uint32_t capacity;     /* slots the allocation has room for; >= popcount(both maps) */
    void *slots[];
} ctxs_node;

/* One entry. Shared by every node (in every map) that holds it, so a path
 * copy bumps a counter instead of calling the value's retain callback. */
typedef struct ctxs_leaf {
    _Atomic uint32_t refs; /* nodes holding this leaf */
    uint32_t unused;
    uint64_t key; /* immutable */
    void *value;  /* immutable; NULL only in a chained slot's layer (a removal) */
} ctxs_leaf;

struct ctxs_map {
    _Atomic uint32_t refs; /* holders of this map */
    uint32_t immortal;     /* 1 for the store's empty map, which the store frees */
    ctxs_store *store;     /* immutable */
    ctxs_node *root;       /* immutable; NULL iff count == 0 */
    size_t count;          /* immutable: leaves in the trie */
};

/* Shared by every slot of one chain tree (a plain slot and the chained
 * slots below it). Any write to any of them bumps the generation, which
 * tells a chained slot whether its merged view is still current. */
typedef struct ctxs_lineage {
    _Atomic uint32_t refs;       /* slots holding it */
    _Atomic uint64_t generation; /* bumped (release) after every write in the tree */
} ctxs_lineage;

struct ctxs_slot {
    _Atomic uint32_t refs; /* holders, including chained children */
    ctxs_lock lock;
    bool cleared;              /* guarded by lock: a chained layer hides everything inherited */
    ctxs_map *map;             /* guarded by lock: the contents, or a chained slot's layer */
    void *memo;                /* guarded by lock: the owner's object for `map` as it is now
                                  (retained via options.retain); NULL after any write */
    ctxs_slot *parent;         /* immutable; retained; NULL for a plain slot */
    ctxs_lineage *lineage;     /* retained; a plain slot's is set (under lock) when its first
                                  chained child is made; a chained slot's is immutable */
    ctxs_map *view;            /* guarded by lock: a chained slot's merged contents, or NULL */
    uint64_t view_generation;  /* guarded by lock: the lineage generation `view` reflects */
    size_t rebuild_cost;       /* guarded by lock: work the last rebuild of `view` took */
    _Atomic size_t stale_work; /* levels walked by reads since `view` went stale */
    ctxs_store *store;         /* immutable */
    size_t depth;              /* immutable: 0 plain, parent->depth + 1 chained */
};

/* --------------------------------------------------------------- interning */

typedef struct ctxs_name {
    uint64_t id;
    uint64_t hash;
    size_t length;
    unsigned char bytes[];
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

typedef struct ctxs_interner {
    pthread_mutex_t lock;             /* serialises writers; readers take no lock */
    uint64_t seed;                    /* immutable: per-store hash seed */
    _Atomic(ctxs_name_table *) table; /* published with release, never freed while live */
    _Atomic(ctxs_name_index *) index; /* likewise */
    _Atomic size_t count;             /* names published; release after names[count-1] */
    void *retired;                    /* guarded by lock: replaced tables and arrays */
} ctxs_interner;

int ctxs_interner_init(ctxs_interner *interner);
void ctxs_interner_destroy(ctxs_interner *interner);

/* ------------------------------------------------------------------ store */

struct ctxs_store {
    ctxs_value_fn retain;         /* immutable */
    ctxs_value_fn release;        /* immutable */
    void *context;                /* immutable */
    _Atomic uint64_t allocations; /* allocation attempts; exact when single-threaded */
    _Atomic uint64_t fail_at;     /* the allocation number that fails; 0 = none */
    ctxs_map *empty;              /* immutable: the shared empty map */
    pthread_key_t thread_key;     /* immutable: each thread's own slot (see thread.c) */
    pthread_key_t spare_key;      /* immutable: each thread's spare cell (see thread.c) */
    uint64_t serial;              /* immutable: unique per store in this process, never 0 */
    pthread_mutex_t spares_lock;  /* guards `spares`, the list of spare cells */
    struct ctxs_spare_cell *spares;
    ctxs_interner interner;
    ctxs_arena arena;
};

/* Allocates through the store's backend, honouring the failure hook.
 * Returns NULL on failure. */
void *ctxs_alloc(ctxs_store *store, size_t size, ctxs_kind kind);
void ctxs_free(ctxs_store *store, void *ptr, size_t size, ctxs_kind kind);

/* Allocation with plain malloc (for tables, names and scratch space), still
 * subject to the failure hook and counted as CTXS_KIND_OTHER. */
void *ctxs_malloc(ctxs_store *store, size_t size);
void ctxs_mfree(ctxs_store *store, void *ptr, size_t size);

static inline void ctxs_value_retain(ctxs_store *store, void *value) {
    if (store->retain != NULL && value != NULL) store->retain(store->context, value);
}

/* Release callbacks running on this thread, nested (thread.c). While one
 * runs, the thread's own slot is hidden: a value is often freed by code
 * that is not its owner's (a task's teardown on an executor thread, a
 * thread's exit), and its destructor must not write into that thread's
 * context, where the next unrelated destructor on the thread would read it.
 * initial-exec: a release is on the write path, and this is one word of
 * static TLS instead of a __tls_get_addr call on each side of it. */
extern __thread unsigned ctxs_thread_releasing __attribute__((tls_model("initial-exec")));

static inline void ctxs_value_release(ctxs_store *store, void *value) {
    if (store->release != NULL && value != NULL) {
        ctxs_thread_releasing++;
        store->release(store->context, value);
        ctxs_thread_releasing--;
    }
}

/* ------------------------------------------------------- trie internals */

/* The next leaf of an iteration, or NULL. */
const ctxs_leaf *ctxs_map_iter_next_leaf(ctxs_map_iter *iter);

/* Persistent insert of an existing leaf (another map's entry), shared
 * rather than copied: no value callback runs. Used to merge chained layers. */
int ctxs_map_assoc_leaf(ctxs_map *map, const ctxs_leaf *leaf, ctxs_map **out);

/* Like ctxs_map_assoc but accepts value == NULL (a tombstone). */
int ctxs_map_assoc_any(ctxs_map *map, uint64_t key, void *value, ctxs_map **out);

/* What an exclusive write unlinked: at most one leaf and one node whose
 * reference the write gave up. Released after the slot's lock is dropped,
 * since a release may call options.release. */
typedef struct ctxs_displaced {
    ctxs_leaf *leaf;
    ctxs_node *node;
} ctxs_displaced;

/* Writes into `map` in place. Only for a map whose one reference is held by
 * the caller under a slot's lock (refs == 1, not the store's empty map):
 * nobody else can see it, so exclusive nodes on the path are rewritten or
 * moved instead of copied, and no sibling's refcount is touched. Shared
 * nodes below are still copied. On CTXS_ENOMEM nothing changed. */
int ctxs_map_assoc_exclusive(ctxs_map *map, uint64_t key, void *value, ctxs_displaced *displaced);
int ctxs_map_without_exclusive(ctxs_map *map, uint64_t key, ctxs_displaced *displaced);
void ctxs_displaced_release(ctxs_store *store, ctxs_displaced *displaced);
/* Node geometry (see hamt.c): 5 bits of the key per level, 32 fragments. */
#define CTXS_BITS 5u
#define CTXS_FANOUT 32u
#define CTXS_MAX_LEVELS 13 /* levels 0..12: ceil(64 / 5) */

static inline uint32_t fragment_bit(uint64_t key, unsigned shift) {
    return UINT32_C(1) << ((key >> shift) & (CTXS_FANOUT - 1));
}

static inline unsigned popcount32(uint32_t x) { return (unsigned)__builtin_popcount(x); }

/* Index of `bit` among the set bits of `map` below it. */
static inline unsigned bit_index(uint32_t map, uint32_t bit) { return popcount32(map & (bit - 1)); }

static inline unsigned node_leaves(const ctxs_node *n) { return popcount32(n->datamap); }
static inline unsigned node_children(const ctxs_node *n) { return popcount32(n->nodemap); }
static inline unsigned node_slots(const ctxs_node *n) {
    return popcount32(n->datamap | n->nodemap);
}

/* The leaf for key, or NULL (borrowed from map). Inline so that each
 * CTXS_HOT caller gets it compiled with POPCNT. */
static inline const ctxs_leaf *ctxs_find_leaf_inline(const ctxs_map *map, uint64_t key) {
    const ctxs_node *node = map->root;
    unsigned shift = 0;
    while (node != NULL) {
        uint32_t bit = fragment_bit(key, shift);
        if (node->datamap & bit) {
            const ctxs_leaf *leaf = node->slots[bit_index(node->datamap, bit)];
            return leaf->key == key ? leaf : NULL;
        }
        if (!(node->nodemap & bit)) return NULL;
        node = node->slots[node_leaves(node) + bit_index(node->nodemap, bit)];
        shift += CTXS_BITS;
    }
    return NULL;
}

/* The pthread key destructor of thread slots (thread.c). */
void ctxs_thread_slot_destructor(void *slot);

/* One thread's spare scope object (see ctxs_thread_spare_put). */
typedef struct ctxs_spare_cell {
    ctxs_store *store;             /* immutable */
    _Atomic(void *) object;        /* written by the owning thread only; read by statistics */
    struct ctxs_spare_cell *next;  /* guarded by store->spares_lock */
    struct ctxs_spare_cell **link; /* guarded by store->spares_lock: the pointer to this cell */
} ctxs_spare_cell;

void ctxs_thread_spare_destructor(void *cell);
/* Releases every thread's spare object; the cells stay (store teardown). */
void ctxs_thread_spares_release(ctxs_store *store);
/* Frees the cells, once the spare key is deleted (store teardown). */
void ctxs_thread_spares_free(ctxs_store *store);
/* How many threads hold a spare now. */
size_t ctxs_thread_spares_count(ctxs_store *store);

/* A bijective 64-bit mix (the SplitMix64 finaliser) and its inverse. */
static inline uint64_t ctxs_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}
uint64_t ctxs_unmix64(uint64_t x);

#endif /* CTXS_INTERNAL_H */
