/*
 * thread.h: each thread's own slot and spare (thread.c). Layer 5, above
 * the slots.
 */
#ifndef CTXS_THREAD_H
#define CTXS_THREAD_H

#include "CContextStore.h"
#include "alloc.h"
#include "slot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ctxs_threads;

/* One thread's spare object (see ctxs_thread_spare_put). */
typedef struct ctxs_spare_cell {
    struct ctxs_threads *threads;  /* immutable: the store's part that lists it */
    _Atomic(void *) object;        /* parked and taken by its thread; emptied by teardown */
    ctxs_slot *slot;               /* its thread's only, and meaningful only while `object`
                                      is parked: the recycled slot it owns if
                                      ctxs_thread_spare_recycle parked it, else NULL */
    struct ctxs_spare_cell *next;  /* guarded by threads->spares_lock */
    struct ctxs_spare_cell **link; /* guarded by threads->spares_lock: the pointer to this cell */
} ctxs_spare_cell;

/* The part of a store that knows its threads. A store begins with it
 * (store.h; store.c asserts it), so the public ctxs_thread_* functions,
 * which take a ctxs_store, are defined in thread.c and reach this part
 * with a cast instead of a forwarding call through store.c: that call
 * costs a frame (5 instructions, callgrind) on each of the spare take and
 * put that every scope makes. */
typedef struct ctxs_threads {
    ctxs_heap *heap;             /* immutable: the store's heap */
    pthread_key_t slot_key;      /* immutable: each thread's own slot */
    pthread_key_t spare_key;     /* immutable: each thread's spare cell */
    uint64_t serial;             /* immutable: unique per store in this process, never 0 */
    pthread_mutex_t spares_lock; /* guards `spares` and the cells' links */
    ctxs_spare_cell *spares;     /* every cell of a thread that has parked a spare */
} ctxs_threads;

/* Makes the thread keys. Returns CTXS_OK or CTXS_ENOMEM (nothing to destroy). */
int ctxs_threads_init(ctxs_threads *threads, ctxs_heap *heap);

/* Releases every thread's spare object (options.release runs); the cells
 * stay, so the store still works afterwards. */
void ctxs_threads_release_spares(ctxs_threads *threads);

/* Deletes the keys and frees the cells (store teardown; no thread's own
 * slot may be live). */
void ctxs_threads_destroy(ctxs_threads *threads);

/* How many threads hold a spare now. */
size_t ctxs_threads_spare_count(ctxs_threads *threads);

#endif /* CTXS_THREAD_H */
