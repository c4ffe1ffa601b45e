/*
 * alloc.h: the allocation front (alloc.c). Layer 2, above the arena.
 *
 * A ctxs_heap is the part of a store that every layer above the arena
 * shares: where objects come from (the arena, behind the test hook that
 * fails an allocation on purpose), the owner's value callbacks, and the
 * store's empty map. Maps, slots and the interner each point to their
 * store's heap, never to the store itself, so that they need nothing of
 * the store's layout. (thread.c needs one fact of it: see thread.h.)
 */
#ifndef CTXS_ALLOC_H
#define CTXS_ALLOC_H

#include "CContextStore.h"
#include "arena.h"
#include "compiler.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct ctxs_heap {
    ctxs_value_fn retain;         /* immutable: options.retain, or NULL */
    ctxs_value_fn release;        /* immutable: options.release, or NULL */
    void *context;                /* immutable: options.context */
    _Atomic uint64_t allocations; /* allocation attempts; exact when single-threaded */
    _Atomic uint64_t fail_at;     /* the allocation number that fails; 0 = none */
    _Atomic int64_t pending;      /* values held in slots' pending entries (slot.c), counted
                                     as live values by the statistics */
    ctxs_map *empty; /* immutable once made: the shared empty map, made and freed by hamt.c
                        (ctxs_map_empty_init) */
    ctxs_arena arena;
} ctxs_heap;

/* Sets up the callbacks of `options` and an arena of its backend.
 * Returns CTXS_OK or the arena's error (see ctxs_arena_init). */
int ctxs_heap_init(ctxs_heap *heap, const ctxs_store_options *options);

/* Gives the arena back; every object of the heap must be freed already. */
void ctxs_heap_destroy(ctxs_heap *heap);

/* Allocates through the heap's backend, honouring the failure hook.
 * Returns the object (the caller owns it; free it with ctxs_free, passing
 * the same size and kind) or NULL on failure. */
void *ctxs_alloc(ctxs_heap *heap, size_t size, ctxs_kind kind);
void ctxs_free(ctxs_heap *heap, void *ptr, size_t size, ctxs_kind kind);

/* Plain malloc (tables, names, scratch space), still subject to the
 * failure hook and counted as CTXS_KIND_OTHER. NULL on failure; free with
 * ctxs_mfree (NULL ignored) and the same size. */
void *ctxs_malloc(ctxs_heap *heap, size_t size);
void ctxs_mfree(ctxs_heap *heap, void *ptr, size_t size);

/* The failure hook: see ctxs_store_fail_allocation. */
void ctxs_heap_fail_allocation(ctxs_heap *heap, uint64_t n);
uint64_t ctxs_heap_allocation_count(ctxs_heap *heap);

/* Release callbacks running on this thread, nested. While one runs, the
 * thread's own slot is hidden (thread.c): a value is often freed by code
 * that is not its owner's (a task's teardown on an executor thread, a
 * thread's exit), and its destructor must not write into that thread's
 * context, where the next unrelated destructor on the thread would read it.
 * initial-exec: a release is on the write path, and this is one word of
 * static TLS instead of a __tls_get_addr call on each side of it. */
extern __thread unsigned ctxs_heap_releasing __attribute__((tls_model("initial-exec")));

/* Calls options.retain for `value` (NULL ignored). The callback may run
 * under a slot's lock. */
static inline void ctxs_value_retain(ctxs_heap *heap, void *value) {
    if (heap->retain != NULL && value != NULL) heap->retain(heap->context, value);
}

/* Calls options.release for `value` (NULL ignored). Callers hold no lock. */
static inline void ctxs_value_release(ctxs_heap *heap, void *value) {
    if (heap->release != NULL && value != NULL) {
        ctxs_heap_releasing++;
        heap->release(heap->context, value);
        ctxs_heap_releasing--;
    }
}

#endif /* CTXS_ALLOC_H */
