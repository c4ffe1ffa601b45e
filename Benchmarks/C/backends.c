/*
 * Allocator backends of the C core, side by side: the arena, plain malloc
 * and jemalloc (mallocx on a dedicated arena). Built twice by `make bench`:
 * without jemalloc linked (arena and malloc, with glibc's malloc) and with
 * it (the jemalloc backend; linking jemalloc replaces malloc process-wide,
 * which would flatter the malloc backend). The two binaries run in turns.
 *
 * Loads (n keys in the context, values are plain pointers):
 *   set-heavy   a request scope forked from a shared parent map, then 8
 *               sets (the first copies the path, the rest write in place)
 *   fork-heavy  snapshot + a child slot + 1 set + release, 8 times
 * Prints one TSV line per (backend, load, n): the median ns per operation
 * over 15 timed rounds.
 */
#define _POSIX_C_SOURCE 200809L
#include "CContextStore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define ROUNDS 15
#define OPS 5000

static ctxs_map *build(ctxs_store *s, const uint64_t *ids, int n) {
    ctxs_map *m = ctxs_map_new(s);
    for (int i = 0; i < n; i++) {
        ctxs_map *next;
        if (ctxs_map_assoc(m, ids[i], (void *)(uintptr_t)(i + 1), &next) != CTXS_OK) exit(1);
        ctxs_map_release(m);
        m = next;
    }
    return m;
}

static double set_heavy(ctxs_store *s, ctxs_map *parent, const uint64_t *ids, int n) {
    double start = now_ns();
    for (int op = 0; op < OPS; op++) {
        ctxs_slot *slot = ctxs_slot_create(s, parent, NULL);
        for (int k = 0; k < 8; k++) ctxs_slot_assoc(slot, ids[n + k], (void *)(uintptr_t)(op + 1));
        ctxs_slot_release(slot);
    }
    return (now_ns() - start) / (OPS * 8.0);
}

static double fork_heavy(ctxs_store *s, ctxs_map *parent, const uint64_t *ids, int n) {
    ctxs_slot *root = ctxs_slot_create(s, parent, NULL);
    double start = now_ns();
    for (int op = 0; op < OPS; op++) {
        for (int k = 0; k < 8; k++) {
            ctxs_map *snap;
            ctxs_slot_snapshot(root, &snap);
            ctxs_slot *child = ctxs_slot_create(s, snap, NULL);
            ctxs_slot_assoc(child, ids[n], (void *)(uintptr_t)(op + 1));
            ctxs_slot_release(child);
            ctxs_map_release(snap);
        }
    }
    double per = (now_ns() - start) / (OPS * 8.0);
    ctxs_slot_release(root);
    return per;
}

int main(int argc, char **argv) {
    static const int sizes[] = {1, 8, 64, 1024, 65536};
    const char *names[] = {"", "arena", "malloc", "jemalloc"};
    for (int a = 1; a < argc; a++) {
        ctxs_backend backend = (ctxs_backend)atoi(argv[a]);
        ctxs_store_options options = {.backend = backend};
        ctxs_store *s = ctxs_store_create(&options);
        if (s == NULL) {
            fprintf(stderr, "backend %d is not built in\n", backend);
            return 1;
        }
        static uint64_t ids[65536 + 16];
        for (int i = 0; i < 65536 + 16; i++) {
            char name[32];
            int len = snprintf(name, sizeof name, "key-%d", i);
            ctxs_intern(s, name, (size_t)len, &ids[i]);
        }
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            int n = sizes[z];
            ctxs_map *parent = build(s, ids, n);
            double set[ROUNDS], fork[ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                set[r] = set_heavy(s, parent, ids, n);
                fork[r] = fork_heavy(s, parent, ids, n);
            }
            qsort(set, ROUNDS, sizeof *set, compare);
            qsort(fork, ROUNDS, sizeof *fork, compare);
            printf("backend-set--%s--%d\t%.2f\n", names[backend], n, set[ROUNDS / 2]);
            printf("backend-fork--%s--%d\t%.2f\n", names[backend], n, fork[ROUNDS / 2]);
            ctxs_map_release(parent);
        }
        if (ctxs_store_destroy(s) != CTXS_OK) {
            fprintf(stderr, "store still busy\n");
            return 1;
        }
    }
    return 0;
}
