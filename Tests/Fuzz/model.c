/* model.c: the reference model of the fuzzer (see model.h). */
#include "model.h"

#include <stdlib.h>
#include <string.h>

int model_key_index(const model_keys *keys, uint64_t id) {
    for (unsigned i = 0; i < keys->count; i++)
        if (keys->id[i] == id) return (int)i;
    return -1;
}

int model_key_add(model_keys *keys, uint64_t id) {
    int at = model_key_index(keys, id);
    if (at >= 0) return at;
    if (keys->count == MODEL_KEYS) return -1;
    keys->id[keys->count] = id;
    return (int)keys->count++;
}

void model_clear(model_contents *c) { memset(c, 0, sizeof *c); }

size_t model_count(const model_contents *c) {
    size_t n = 0;
    for (unsigned i = 0; i < MODEL_KEYS; i++) n += c->value[i] != 0 && c->value[i] != MODEL_TOMB;
    return n;
}

bool model_equal(const model_contents *a, const model_contents *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

void model_apply_layer(model_contents *base, const model_contents *layer) {
    for (unsigned i = 0; i < MODEL_KEYS; i++) {
        if (layer->value[i] == MODEL_TOMB) {
            base->value[i] = 0;
        } else if (layer->value[i] != 0) {
            base->value[i] = layer->value[i];
        }
    }
}

int model_name_find(const model_names *names, const void *bytes, size_t length) {
    for (unsigned i = 0; i < names->count; i++) {
        const model_name *n = &names->names[i];
        if (n->length == length && (length == 0 || memcmp(n->bytes, bytes, length) == 0))
            return (int)i;
    }
    return -1;
}

int model_name_by_id(const model_names *names, uint64_t id) {
    for (unsigned i = 0; i < names->count; i++)
        if (names->names[i].id == id) return (int)i;
    return -1;
}

bool model_name_add(model_names *names, const void *bytes, size_t length, uint64_t id) {
    if (names->count == MODEL_NAMES) return false;
    unsigned char *copy = NULL;
    if (length > 0) {
        copy = malloc(length);
        if (copy == NULL) return false;
        memcpy(copy, bytes, length);
    }
    names->names[names->count++] = (model_name){copy, length, id};
    return true;
}

void model_names_reset(model_names *names) {
    for (unsigned i = 0; i < names->count; i++) free(names->names[i].bytes);
    names->count = 0;
}
