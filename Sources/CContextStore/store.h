/*
 * store.h: the store (store.c). The top layer: a store is its parts, each
 * owned by the layer that uses it, and store.c is the only file that sees
 * all of them.
 */
#ifndef CTXS_STORE_H
#define CTXS_STORE_H

#include "CContextStore.h"
#include "alloc.h"
#include "arena.h"
#include "hamt.h"
#include "intern.h"
#include "thread.h"

struct ctxs_store {
    ctxs_threads threads;   /* first (see thread.h): each thread's slot and spare; uses heap */
    ctxs_heap heap;         /* objects, the failure hook, value callbacks, the empty map */
    ctxs_interner interner; /* key names; uses heap */
};

#endif /* CTXS_STORE_H */
