/*
 * The allocation front: every object of a store is allocated here, so the
 * failure hook sees every allocation point, and the owner's value
 * callbacks are called here.
 *
 * Invariants:
 *  - Every allocation, of any kind, advances `allocations` once, and fails
 *    (returns NULL, allocating nothing) when it is the armed `fail_at`.
 *  - ctxs_malloc'd memory is counted in the arena's OTHER counters, so the
 *    statistics and ctxs_store_destroy's check see it.
 */
#include "alloc.h"

#include <stdbool.h>
#include <stdlib.h>

__thread unsigned ctxs_heap_releasing __attribute__((tls_model("initial-exec"))) = 0;

int ctxs_heap_init(ctxs_heap *heap, const ctxs_store_options *options) {
    heap->retain = options->retain;
    heap->release = options->release;
    heap->context = options->context;
    atomic_init(&heap->allocations, 0);
    atomic_init(&heap->fail_at, 0);
    atomic_init(&heap->pending, 0);
    heap->empty = NULL;
    return ctxs_arena_init(&heap->arena, options->backend);
}

void ctxs_heap_destroy(ctxs_heap *heap) { ctxs_arena_destroy(&heap->arena); }

/* The counter is advanced with a load and a store rather than an atomic
 * add: the hook is for single-threaded tests, and a locked add on every
 * allocation would cost the hot path ~4.5 ns. Under concurrency the count
 * may miss increments but is never undefined. */
static inline bool should_fail(ctxs_heap *heap) {
    uint64_t n = atomic_load_explicit(&heap->allocations, memory_order_relaxed) + 1;
    atomic_store_explicit(&heap->allocations, n, memory_order_relaxed);
    uint64_t fail_at = atomic_load_explicit(&heap->fail_at, memory_order_relaxed);
    if (CTXS_LIKELY(fail_at == 0) || fail_at != n) return false;
    return atomic_compare_exchange_strong(&heap->fail_at, &fail_at, 0);
}

void *ctxs_alloc(ctxs_heap *heap, size_t size, ctxs_kind kind) {
    if (CTXS_UNLIKELY(should_fail(heap))) return NULL;
    return ctxs_arena_alloc(&heap->arena, size, kind);
}

void ctxs_free(ctxs_heap *heap, void *ptr, size_t size, ctxs_kind kind) {
    ctxs_arena_free(&heap->arena, ptr, size, kind);
}

void *ctxs_malloc(ctxs_heap *heap, size_t size) {
    if (CTXS_UNLIKELY(should_fail(heap))) return NULL;
    void *p = malloc(size);
    if (p == NULL) return NULL;
    atomic_fetch_add_explicit(&heap->arena.live[CTXS_KIND_OTHER], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&heap->arena.bytes, size, memory_order_relaxed);
    return p;
}

void ctxs_mfree(ctxs_heap *heap, void *ptr, size_t size) {
    if (ptr == NULL) return;
    free(ptr);
    atomic_fetch_sub_explicit(&heap->arena.live[CTXS_KIND_OTHER], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&heap->arena.bytes, size, memory_order_relaxed);
}

void ctxs_heap_fail_allocation(ctxs_heap *heap, uint64_t n) {
    uint64_t at = n == 0 ? 0 : atomic_load(&heap->allocations) + n;
    atomic_store(&heap->fail_at, at);
}

uint64_t ctxs_heap_allocation_count(ctxs_heap *heap) { return atomic_load(&heap->allocations); }
