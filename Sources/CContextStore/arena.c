/*
 * Allocator backends. The bottom layer of the core: it includes only the
 * lock and the public header, and calls nothing else of the core.
 *
 * The arena backend keeps one pool per 16-byte size class. A pool hands out
 * objects from a free list of returned objects first, then by bumping through
 * its newest 64 KiB chunk. Chunks go back to the system only when the store
 * is destroyed, so freed objects are reused and a steady workload reaches a
 * fixed footprint. A pool is guarded by its own spin lock, which also guards
 * its live counters, so statistics cost no extra atomic operation.
 *
 * The malloc backend calls malloc/free per object; the jemalloc backend calls
 * mallocx/sdallocx on an arena of its own (created with "arenas.create", and
 * emptied and kept for the next store when the store is destroyed: see
 * je_arena_give_back). Both keep relaxed atomic counters.
 *
 * Invariants:
 *  - pool->live[k] and arena->live[k] count exactly the objects of kind k
 *    handed out and not yet freed; a pool's are guarded by its lock.
 *  - A chunk's first object-sized cell links the pool's chunk list; every
 *    object handed out lies in a chunk of its own pool, so it is aligned to
 *    the 16-byte grain.
 *
 * The default backend, CTXS_DEFAULT_BACKEND (define it to another
 * ctxs_backend value to change it), is the arena: `make bench-backends`
 * times the three side by side, and the arena was fastest in all ten rows
 * of the last run (Benchmarks/RESULTS.md, "Allocator backends").
 */
#include "arena.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef CTXS_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdio.h>
/* No thread cache: a thread cache may still hold objects of the arena when
 * the store is destroyed, and "arena.<i>.reset" (or ".destroy") requires it
 * to hold none. */
#define CTXS_JE_FLAGS(a) (MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE)

/* Arenas of destroyed stores, kept for the next stores. jemalloc 5.3 (with
 * its default opt.retain) never frees all the metadata of a destroyed arena:
 * stats.metadata and the resident size grow by about 4 KiB per
 * "arenas.create" + "arena.<i>.destroy" (measured), so a process that makes
 * and destroys stores grew without bound (the fuzzer, one store per input,
 * passed 1.5 GiB). A reset arena holds no allocation; once purged its pages
 * are back with the system, and reusing it costs no new metadata. Keeping
 * one costs no more than destroying it would leave behind, so every arena
 * is kept: there are never more than the most stores alive at once. */
static pthread_mutex_t je_spares_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned *je_spares;      /* guarded by je_spares_lock: arenas no store uses */
static size_t je_spare_count;    /* guarded by je_spares_lock */
static size_t je_spare_capacity; /* guarded by je_spares_lock */

/* Runs "arena.<arena>.<command>"; returns whether jemalloc accepted it. */
static bool je_arena_command(const char *command, unsigned arena) {
    char name[64];
    snprintf(name, sizeof name, "arena.%u.%s", arena, command);
    return mallctl(name, NULL, NULL, NULL, 0) == 0;
}

/* A spare arena, or a new one. Returns false when jemalloc cannot make one. */
static bool je_arena_take(unsigned *arena) {
    pthread_mutex_lock(&je_spares_lock);
    bool spare = je_spare_count > 0;
    if (spare) *arena = je_spares[--je_spare_count];
    pthread_mutex_unlock(&je_spares_lock);
    if (spare) return true;
    size_t length = sizeof *arena;
    return mallctl("arenas.create", arena, &length, NULL, 0) == 0;
}

/* Takes back the arena of a store that holds no object any more. If it
 * cannot be reset or kept (the list cannot grow), it is destroyed. */
static void je_arena_give_back(unsigned arena) {
    bool kept = false;
    if (je_arena_command("reset", arena)) {
        (void)je_arena_command("purge", arena);
        pthread_mutex_lock(&je_spares_lock);
        if (je_spare_count == je_spare_capacity) {
            size_t capacity = je_spare_capacity > 0 ? je_spare_capacity * 2 : 8;
            unsigned *bigger = realloc(je_spares, capacity * sizeof *bigger);
            if (bigger != NULL) {
                je_spares = bigger;
                je_spare_capacity = capacity;
            }
        }
        kept = je_spare_count < je_spare_capacity;
        if (kept) je_spares[je_spare_count++] = arena;
        pthread_mutex_unlock(&je_spares_lock);
    }
    if (!kept) (void)je_arena_command("destroy", arena);
}
#endif

#ifndef CTXS_DEFAULT_BACKEND
#define CTXS_DEFAULT_BACKEND CTXS_BACKEND_ARENA
#endif

int ctxs_have_jemalloc(void) {
#ifdef CTXS_WITH_JEMALLOC
    return 1;
#else
    return 0;
#endif
}

static inline size_t pool_index(size_t size) { return (size - 1) / CTXS_ARENA_GRAIN; }

int ctxs_arena_init(ctxs_arena *arena, ctxs_backend backend) {
    memset(arena, 0, sizeof *arena);
    if (backend == CTXS_BACKEND_DEFAULT) backend = CTXS_DEFAULT_BACKEND;
    switch (backend) {
    case CTXS_BACKEND_ARENA:
    case CTXS_BACKEND_MALLOC: break;
    case CTXS_BACKEND_JEMALLOC: {
#ifdef CTXS_WITH_JEMALLOC
        unsigned index = 0;
        if (!je_arena_take(&index)) return CTXS_ENOMEM;
        arena->jemalloc_arena = index;
        break;
#else
        return CTXS_EINVAL;
#endif
    }
    default: return CTXS_EINVAL;
    }
    arena->backend = backend;
    return CTXS_OK;
}

void ctxs_arena_destroy(ctxs_arena *arena) {
    switch (arena->backend) {
    case CTXS_BACKEND_ARENA:
        for (size_t i = 0; i < CTXS_ARENA_CLASSES; i++) {
            void *chunk = arena->pools[i].chunks;
            while (chunk != NULL) {
                void *next = *(void **)chunk;
                free(chunk);
                chunk = next;
            }
        }
        break;
    case CTXS_BACKEND_JEMALLOC: {
#ifdef CTXS_WITH_JEMALLOC
        je_arena_give_back(arena->jemalloc_arena);
#endif
        break;
    }
    default: break;
    }
}

/* Carves a new chunk for `pool`; called with the pool locked. The first
 * object-sized cell of each chunk is its list link, so alignment holds. */
static bool pool_grow(ctxs_pool *pool, size_t object_size) {
    char *chunk = malloc(CTXS_ARENA_CHUNK);
    if (chunk == NULL) return false;
    *(void **)chunk = pool->chunks;
    pool->chunks = chunk;
    pool->reserved += CTXS_ARENA_CHUNK;
    pool->bump = chunk + object_size;
    pool->end = chunk + CTXS_ARENA_CHUNK;
    return true;
}

void *ctxs_arena_alloc(ctxs_arena *arena, size_t size, ctxs_kind kind) {
    if (arena->backend == CTXS_BACKEND_ARENA && size <= CTXS_ARENA_MAX) {
        size_t index = pool_index(size);
        size_t object_size = (index + 1) * CTXS_ARENA_GRAIN;
        ctxs_pool *pool = &arena->pools[index];
        void *object;
        ctxs_lock_acquire(&pool->lock);
        if (pool->free_list != NULL) {
            object = pool->free_list;
            pool->free_list = *(void **)object;
        } else {
            if ((size_t)(pool->end - pool->bump) < object_size && !pool_grow(pool, object_size)) {
                ctxs_lock_release(&pool->lock);
                return NULL;
            }
            object = pool->bump;
            pool->bump += object_size;
        }
        pool->live[kind]++;
        ctxs_lock_release(&pool->lock);
        return object;
    }
    void *object;
#ifdef CTXS_WITH_JEMALLOC
    if (arena->backend == CTXS_BACKEND_JEMALLOC) {
        object = mallocx(size, CTXS_JE_FLAGS(arena->jemalloc_arena));
    } else
#endif
    {
        object = malloc(size);
    }
    if (object == NULL) return NULL;
    atomic_fetch_add_explicit(&arena->live[kind], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&arena->bytes, size, memory_order_relaxed);
    return object;
}

void ctxs_arena_free(ctxs_arena *arena, void *ptr, size_t size, ctxs_kind kind) {
    if (arena->backend == CTXS_BACKEND_ARENA && size <= CTXS_ARENA_MAX) {
        ctxs_pool *pool = &arena->pools[pool_index(size)];
        ctxs_lock_acquire(&pool->lock);
        *(void **)ptr = pool->free_list;
        pool->free_list = ptr;
        pool->live[kind]--;
        ctxs_lock_release(&pool->lock);
        return;
    }
#ifdef CTXS_WITH_JEMALLOC
    if (arena->backend == CTXS_BACKEND_JEMALLOC) {
        sdallocx(ptr, size, CTXS_JE_FLAGS(arena->jemalloc_arena));
    } else
#endif
    {
        free(ptr);
    }
    atomic_fetch_sub_explicit(&arena->live[kind], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&arena->bytes, size, memory_order_relaxed);
}

size_t ctxs_arena_accounted_size(const ctxs_arena *arena, size_t size) {
    if (arena->backend == CTXS_BACKEND_ARENA && size <= CTXS_ARENA_MAX) {
        return (pool_index(size) + 1) * CTXS_ARENA_GRAIN;
    }
    return size;
}

void ctxs_arena_statistics(ctxs_arena *arena, size_t live[CTXS_KIND_COUNT], size_t *in_use,
                           size_t *reserved) {
    size_t bytes = atomic_load_explicit(&arena->bytes, memory_order_relaxed);
    for (size_t k = 0; k < CTXS_KIND_COUNT; k++) {
        live[k] += atomic_load_explicit(&arena->live[k], memory_order_relaxed);
    }
    *in_use = bytes;
    *reserved = bytes;
    if (arena->backend != CTXS_BACKEND_ARENA) return;
    for (size_t i = 0; i < CTXS_ARENA_CLASSES; i++) {
        ctxs_pool *pool = &arena->pools[i];
        ctxs_lock_acquire(&pool->lock);
        size_t objects = 0;
        for (size_t k = 0; k < CTXS_KIND_COUNT; k++) {
            live[k] += pool->live[k];
            objects += pool->live[k];
        }
        *in_use += objects * (i + 1) * CTXS_ARENA_GRAIN;
        *reserved += pool->reserved;
        ctxs_lock_release(&pool->lock);
    }
}
