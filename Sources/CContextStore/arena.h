/*
 * arena.h: the allocator backends (arena.c). Layer 1, above only the lock:
 * it hands out and takes back raw memory and counts it by kind, and knows
 * nothing of what it holds.
 */
#ifndef CTXS_ARENA_H
#define CTXS_ARENA_H

#include "CContextStore.h"
#include "lock.h"

#include <stdatomic.h>
#include <stddef.h>

/* What an allocation is for; each kind has its own live counter. */
typedef enum ctxs_kind {
    CTXS_KIND_ROOT = 0, /* struct ctxs_map */
    CTXS_KIND_NODE,     /* struct ctxs_node */
    CTXS_KIND_LEAF,     /* struct ctxs_leaf holding a value */
    CTXS_KIND_TOMB,     /* struct ctxs_leaf with a NULL value (a chained slot's removal) */
    CTXS_KIND_SLOT,     /* struct ctxs_slot */
    CTXS_KIND_OTHER,    /* lineages, tables, names, scratch arrays */
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
    _Atomic size_t live[CTXS_KIND_COUNT]; /* malloc/jemalloc, and OTHER: live objects per kind */
    _Atomic size_t bytes;                 /* malloc/jemalloc, and OTHER: bytes of live objects */
    ctxs_pool pools[CTXS_ARENA_CLASSES];  /* arena backend only */
} ctxs_arena;

/* Sets up `arena` for `backend` (CTXS_BACKEND_DEFAULT: the build's default,
 * CTXS_DEFAULT_BACKEND). Returns CTXS_OK, CTXS_EINVAL (a backend not built
 * in) or CTXS_ENOMEM (jemalloc could not make an arena). */
int ctxs_arena_init(ctxs_arena *arena, ctxs_backend backend);

/* Gives every chunk (or the jemalloc arena) back. Objects still allocated
 * from it become invalid. */
void ctxs_arena_destroy(ctxs_arena *arena);

/* An object of `size` bytes counted as `kind`, or NULL when the system has
 * no memory. The caller owns it and frees it with ctxs_arena_free, passing
 * the same size and kind. */
void *ctxs_arena_alloc(ctxs_arena *arena, size_t size, ctxs_kind kind);
void ctxs_arena_free(ctxs_arena *arena, void *ptr, size_t size, ctxs_kind kind);

/* The bytes an allocation of `size` counts for in the statistics. */
size_t ctxs_arena_accounted_size(const ctxs_arena *arena, size_t size);

/* Adds the arena's live objects per kind to live[] and sets its byte
 * figures: in use (allocator-size units) and reserved from the system. */
void ctxs_arena_statistics(ctxs_arena *arena, size_t live[CTXS_KIND_COUNT], size_t *in_use,
                           size_t *reserved);

#endif /* CTXS_ARENA_H */
