/*
 * test_backends.c: the allocator backends: jemalloc arenas reused across stores
 * (its metadata does not grow).
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================= backends */

#ifdef CTXS_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

/* jemalloc's own metadata in bytes, or 0 if its statistics are not built in. */
static size_t jemalloc_metadata(void) {
    uint64_t epoch = 1;
    size_t length = sizeof epoch;
    if (mallctl("epoch", &epoch, &length, &epoch, length) != 0) return 0;
    size_t bytes = 0;
    length = sizeof bytes;
    if (mallctl("stats.metadata", &bytes, &length, NULL, 0) != 0) return 0;
    return bytes;
}

/* Makes a jemalloc store, fills a map of 200 entries, frees it all. */
static void jemalloc_store_cycle(void) {
    ctxs_store_options o;
    memset(&o, 0, sizeof o);
    o.backend = CTXS_BACKEND_JEMALLOC;
    ctxs_store *s = ctxs_store_create(&o);
    if (!CHECK(s != NULL)) return;
    static int unowned;
    ctxs_map *m = ctxs_map_new(s);
    for (uint64_t k = 1; k <= 200; k++) assoc_in_place(&m, k, &unowned);
    ctxs_map_release(m);
    CHECK_EQ(ctxs_store_destroy(s), CTXS_OK);
}
#endif

/* Stores made and destroyed one after another do not grow jemalloc's
 * metadata: a destroyed store's arena is reset and reused. (Destroying the
 * arena instead left about 4 KiB behind per store in jemalloc 5.3; the
 * fuzzer, which makes a store per input, found it.) Runs once, as part of
 * the jemalloc backend's pass. */
void test_jemalloc_reuse(harness *h) {
    if (h->backend != CTXS_BACKEND_JEMALLOC) return;
#ifdef CTXS_WITH_JEMALLOC
    for (int i = 0; i < 8; i++) jemalloc_store_cycle(); /* jemalloc's first-use metadata */
    size_t before = jemalloc_metadata();
    if (before == 0) {
        printf("(jemalloc statistics not built in: jemalloc_reuse checks nothing)\n");
        return;
    }
    enum { CYCLES = 512 };
    for (int i = 0; i < CYCLES; i++) jemalloc_store_cycle();
    size_t after = jemalloc_metadata();
    /* Destroyed arenas would add >= 4 KiB each, 2 MiB in all. */
    CHECKF(after < before + 64 * 1024,
           "jemalloc metadata grew from %zu to %zu bytes over %d stores", before, after, CYCLES);
#endif
}
