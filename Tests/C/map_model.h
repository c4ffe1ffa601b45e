/*
 * map_model.h: the reference model of a map in the pure-C harness.
 *
 * Entries sorted by key in a growable array: any 64-bit keys, any number of
 * them, values compared by pointer. Naive on purpose (no sharing, no trie),
 * so that a disagreement with the core is the core's.
 *
 * The fuzzer (Tests/Fuzz/model.h) keeps a model of its own: a fixed pool of
 * at most 96 keys with 16-bit values, copied by assignment and compared with
 * memcmp, so that a fuzz input's thousands of map versions cost no
 * allocation. Sharing this one would cost it that; sharing the fuzzer's
 * would limit these tests to 96 keys and small integer values.
 */
#ifndef CTXS_TEST_MAP_MODEL_H
#define CTXS_TEST_MAP_MODEL_H

#include "CContextStore.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct entry {
    uint64_t key;
    void *value;
} entry;

/* The reference map: entries sorted by key. Zero-initialised is empty. */
typedef struct model {
    entry *e;
    size_t n, cap;
} model;

size_t model_lower(const model *m, uint64_t key);

void *model_get(const model *m, uint64_t key);

void model_reserve(model *m, size_t cap);

void model_set(model *m, uint64_t key, void *value);

bool model_del(model *m, uint64_t key);

void model_copy(model *dst, const model *src);

static inline void model_clear(model *m) { m->n = 0; }

void model_free(model *m);

void model_from_map(model *m, const ctxs_map *map);

#endif /* CTXS_TEST_MAP_MODEL_H */
