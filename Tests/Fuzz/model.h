/*
 * model.h: the reference model the fuzzer checks the C core against.
 *
 * It is deliberately naive: no sharing, no trie, no caches. Every key the
 * fuzzer uses sits in a small pool, and a map's contents are one array
 * indexed by pool position, so two contents are equal exactly when their
 * arrays are (memcmp). Values are small integers (see fuzz.h); 0 means
 * absent and MODEL_TOMB marks a removal in a chained slot's layer.
 *
 * Interned names are kept as copies with the id the core gave them, so the
 * fuzzer can check that a name keeps its id and that ids stay distinct.
 */
#ifndef CTXS_FUZZ_MODEL_H
#define CTXS_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_KEYS 96   /* key pool capacity; every map holds at most this many */
#define MODEL_NAMES 320 /* interned names remembered (the core's table grows at 32, 64, ...) */
#define MODEL_TOMB UINT16_MAX /* a chained layer's removal */

/* The keys the fuzzer may use. Append-only for the life of one input, so
 * a position always names the same key. */
typedef struct model_keys {
    uint64_t id[MODEL_KEYS];
    unsigned count;
} model_keys;

/* Position of `id` in the pool, or -1. */
int model_key_index(const model_keys *keys, uint64_t id);

/* Adds `id` unless present. Returns its position, or -1 when the pool is full. */
int model_key_add(model_keys *keys, uint64_t id);

/* A map's contents, or a slot's layer: value[i] is the value of pool key i. */
typedef struct model_contents {
    uint16_t value[MODEL_KEYS];
} model_contents;

void model_clear(model_contents *c);

/* Entries with a value (tombstones do not count). */
size_t model_count(const model_contents *c);

bool model_equal(const model_contents *a, const model_contents *b);

/* Applies a chained layer onto `base`: values replace, tombstones remove. */
void model_apply_layer(model_contents *base, const model_contents *layer);

/* One interned name: a private copy of its bytes and the id it got. */
typedef struct model_name {
    unsigned char *bytes; /* owned; NULL when length is 0 */
    size_t length;
    uint64_t id;
} model_name;

typedef struct model_names {
    model_name names[MODEL_NAMES];
    unsigned count;
} model_names;

/* Position of the name with these bytes, or -1. */
int model_name_find(const model_names *names, const void *bytes, size_t length);

/* Position of the name with this id, or -1. */
int model_name_by_id(const model_names *names, uint64_t id);

/* Records a name. Returns false when the table is full or memory runs out
 * (the fuzzer then stops interning new names for this input). */
bool model_name_add(model_names *names, const void *bytes, size_t length, uint64_t id);

/* Frees every copy and empties the table. */
void model_names_reset(model_names *names);

#endif /* CTXS_FUZZ_MODEL_H */
