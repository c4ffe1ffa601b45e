/* map_model.c: the reference model (see map_model.h). */
#include "map_model.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

size_t model_lower(const model *m, uint64_t key) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->e[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void *model_get(const model *m, uint64_t key) {
    size_t i = model_lower(m, key);
    return i < m->n && m->e[i].key == key ? m->e[i].value : NULL;
}

void model_reserve(model *m, size_t cap) {
    if (cap <= m->cap) return;
    size_t c = m->cap ? m->cap : 16;
    while (c < cap) c *= 2;
    m->e = xrealloc(m->e, c * sizeof *m->e);
    m->cap = c;
}

void model_set(model *m, uint64_t key, void *value) {
    size_t i = model_lower(m, key);
    if (i < m->n && m->e[i].key == key) {
        m->e[i].value = value;
        return;
    }
    model_reserve(m, m->n + 1);
    memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof *m->e);
    m->e[i].key = key;
    m->e[i].value = value;
    m->n++;
}

bool model_del(model *m, uint64_t key) {
    size_t i = model_lower(m, key);
    if (i == m->n || m->e[i].key != key) return false;
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
    m->n--;
    return true;
}

void model_copy(model *dst, const model *src) {
    model_reserve(dst, src->n);
    if (src->n) memcpy(dst->e, src->e, src->n * sizeof *src->e);
    dst->n = src->n;
}

void model_free(model *m) {
    free(m->e);
    memset(m, 0, sizeof *m);
}

void model_from_map(model *m, const ctxs_map *map) {
    model_clear(m);
    ctxs_map_iter it;
    uint64_t key;
    void *value;
    ctxs_map_iter_init(&it, map);
    while (ctxs_map_iter_next(&it, &key, &value)) model_set(m, key, value);
}
