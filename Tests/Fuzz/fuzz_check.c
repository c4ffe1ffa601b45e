/*
 * fuzz_check.c: compares the C core with the reference model (see fuzz.h).
 * Every mismatch is a finding: fz_fail prints it and aborts.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fz_fail(const fz_state *st, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr,
            "fuzz_core: mismatch after operation %llu: ", (unsigned long long)st->operations);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

void fz_slot_contents(const fz_state *st, int i, model_contents *out) {
    const fz_slot *s = &st->slots[i];
    if (s->parent < 0) {
        *out = s->layer;
        return;
    }
    if (s->cleared) {
        model_clear(out);
    } else {
        fz_slot_contents(st, s->parent, out); /* depth <= FZ_MAX_DEPTH */
    }
    model_apply_layer(out, &s->layer);
}

void fz_census_take(const fz_state *st, fz_census *out) {
    ctxs_store_statistics(st->store, &out->stats);
    memcpy(out->counts, st->counts, sizeof out->counts);
}

void fz_census_same(const fz_state *st, const fz_census *before, const char *operation) {
    fz_census now;
    fz_census_take(st, &now);
    const ctxs_statistics *a = &before->stats, *b = &now.stats;
    FZ_ASSERT(st,
              a->live_roots == b->live_roots && a->live_nodes == b->live_nodes &&
                  a->live_values == b->live_values && a->live_slots == b->live_slots &&
                  a->interned_keys == b->interned_keys && a->bytes_in_use == b->bytes_in_use,
              "failed %s changed the store: roots %zu->%zu nodes %zu->%zu values %zu->%zu "
              "slots %zu->%zu names %zu->%zu bytes %zu->%zu",
              operation, a->live_roots, b->live_roots, a->live_nodes, b->live_nodes, a->live_values,
              b->live_values, a->live_slots, b->live_slots, a->interned_keys, b->interned_keys,
              a->bytes_in_use, b->bytes_in_use);
    for (unsigned id = 0; id < FZ_IDS; id++) {
        FZ_ASSERT(st, before->counts[id] == now.counts[id],
                  "failed %s changed the references to value %u: %lld -> %lld", operation, id,
                  (long long)before->counts[id], (long long)now.counts[id]);
    }
}

/* One map against the contents it should have. */
static void check_map(fz_state *st, ctxs_map *map, const model_contents *want, const char *what) {
    FZ_ASSERT(st, ctxs_map_store(map) == st->store, "%s: map of another store", what);
    size_t count = model_count(want);
    FZ_ASSERT(st, ctxs_map_count(map) == count, "%s: count %zu, model %zu", what,
              ctxs_map_count(map), count);
    FZ_ASSERT(st, ctxs_map_check(map) == 1, "%s: trie invariant broken", what);
    int depth = ctxs_map_depth(map);
    size_t nodes = ctxs_map_node_count(map);
    FZ_ASSERT(st, (count == 0) == (depth == -1) && (count == 0) == (nodes == 0),
              "%s: %zu entries but depth %d and %zu nodes", what, count, depth, nodes);

    bool seen[MODEL_KEYS] = {false};
    ctxs_map_iter iter;
    ctxs_map_iter_init(&iter, map);
    uint64_t key;
    void *value;
    size_t iterated = 0;
    while (ctxs_map_iter_next(&iter, &key, &value)) {
        int i = model_key_index(&st->keys, key);
        FZ_ASSERT(st, i >= 0, "%s: iteration yields key %#llx the fuzzer never used", what,
                  (unsigned long long)key);
        FZ_ASSERT(st, !seen[i], "%s: iteration yields key %#llx twice", what,
                  (unsigned long long)key);
        seen[i] = true;
        FZ_ASSERT(st, want->value[i] != 0 && fz_id(value) == want->value[i],
                  "%s: iteration gives key %#llx -> %u, model %u", what, (unsigned long long)key,
                  fz_id(value), want->value[i]);
        iterated++;
    }
    FZ_ASSERT(st, iterated == count, "%s: iterated %zu entries, model %zu", what, iterated, count);

    for (unsigned i = 0; i < st->keys.count; i++) {
        void *found = NULL;
        int present = ctxs_map_find(map, st->keys.id[i], &found);
        FZ_ASSERT(st, present == (want->value[i] != 0), "%s: find of key %u says %d, model %u",
                  what, i, present, want->value[i]);
        FZ_ASSERT(st, !present || fz_id(found) == want->value[i],
                  "%s: find of key %u gives %u, model %u", what, i, fz_id(found), want->value[i]);
        FZ_ASSERT(st, ctxs_map_find(map, st->keys.id[i], NULL) == present,
                  "%s: membership test of key %u disagrees with find", what, i);
    }
}

void fz_check_maps(fz_state *st) {
    char what[32];
    for (int h = 0; h < FZ_HANDLES; h++) {
        if (st->maps[h].map == NULL) continue;
        snprintf(what, sizeof what, "map handle %d", h);
        check_map(st, st->maps[h].map, &st->maps[h].model, what);
    }
    /* CHAMP is canonical: equal contents must give equal tries, whatever
     * sequence of writes (in place or copied) built them. */
    for (int h = 0; h < FZ_HANDLES; h++) {
        for (int g = h + 1; g < FZ_HANDLES; g++) {
            const fz_map *a = &st->maps[h], *b = &st->maps[g];
            if (a->map == NULL || b->map == NULL) continue;
            bool equal = model_equal(&a->model, &b->model);
            FZ_ASSERT(st, ctxs_map_same_shape(a->map, b->map) == equal,
                      "maps %d and %d: same_shape %d, but their contents are %s", h, g,
                      ctxs_map_same_shape(a->map, b->map), equal ? "equal" : "different");
            if (equal) {
                FZ_ASSERT(st,
                          ctxs_map_node_count(a->map) == ctxs_map_node_count(b->map) &&
                              ctxs_map_depth(a->map) == ctxs_map_depth(b->map),
                          "maps %d and %d: equal contents, different node count or depth", h, g);
            }
        }
    }
}

/* Is `held` the slot of object i or of one of its ancestors? */
static bool in_chain(const fz_state *st, int i, const ctxs_slot *held) {
    for (; i >= 0; i = st->slots[i].parent)
        if (st->slots[i].slot == held) return true;
    return false;
}

/* Reads pool key k through slot object i in one of three ways. */
static void check_slot_key(fz_state *st, int i, const model_contents *want, unsigned k,
                           unsigned style) {
    ctxs_slot *slot = st->slots[i].slot;
    uint64_t key = st->keys.id[k];
    unsigned expect = want->value[k];
    void *value = NULL;
    int present;
    switch (style % 3) {
    case 0:
        present = ctxs_slot_find(slot, key, &value);
        if (present) {
            /* The caller's reference, counted by the retain callback. */
            FZ_ASSERT(st, fz_id(value) < FZ_VALUES && st->counts[fz_id(value)] > 0,
                      "slot %d key %u: find handed out %u without a reference", i, k, fz_id(value));
            st->counts[fz_id(value)]--;
        }
        break;
    case 1: present = ctxs_slot_find(slot, key, NULL); break;
    default: {
        ctxs_slot *held = NULL;
        present = ctxs_slot_read_begin(slot, key, &value, &held);
        if (present) {
            bool ok = in_chain(st, i, held);
            ctxs_slot_read_end(held);
            FZ_ASSERT(st, ok, "slot %d key %u: read_begin holds a slot outside the chain", i, k);
        }
        break;
    }
    }
    FZ_ASSERT(st, present == (expect != 0), "slot %d (depth %zu) key %u: present %d, model %u", i,
              st->slots[i].depth, k, present, expect);
    FZ_ASSERT(st, !present || style % 3 == 1 || fz_id(value) == expect,
              "slot %d (depth %zu) key %u: value %u, model %u", i, st->slots[i].depth, k,
              fz_id(value), expect);
}

/* The parts of a slot that reading does not disturb. */
static void check_slot_shape(fz_state *st, int i) {
    const fz_slot *s = &st->slots[i];
    ctxs_slot *parent = s->parent >= 0 ? st->slots[s->parent].slot : NULL;
    FZ_ASSERT(st, ctxs_slot_parent(s->slot) == parent, "slot %d: wrong parent", i);
    FZ_ASSERT(st, ctxs_slot_depth(s->slot) == s->depth, "slot %d: depth %zu, model %zu", i,
              ctxs_slot_depth(s->slot), s->depth);
    void *memo = NULL;
    int has = ctxs_slot_memo_get(s->slot, &memo);
    FZ_ASSERT(st, has == (s->memo != 0) && (!has || fz_id(memo) == s->memo),
              "slot %d: memo %d/%u, model %u", i, has, has ? fz_id(memo) : 0, s->memo);
    if (has) st->counts[s->memo]--; /* the caller's reference */
}

void fz_check_slot_key(fz_state *st, int i, unsigned k, unsigned style) {
    model_contents want;
    fz_slot_contents(st, i, &want);
    check_slot_key(st, i, &want, k, style);
}

static void check_slot(fz_state *st, int i, int key) {
    model_contents want;
    fz_slot_contents(st, i, &want);
    check_slot_shape(st, i);
    if (key >= 0) {
        check_slot_key(st, i, &want, (unsigned)key, (unsigned)st->operations);
        return;
    }
    for (unsigned k = 0; k < st->keys.count; k++)
        check_slot_key(st, i, &want, k, k + (unsigned)st->operations);
}

void fz_check_slots(fz_state *st, bool full) {
    if (!full) {
        int i = st->touched_slot;
        if (i >= 0 && st->slots[i].slot != NULL && !st->slots[i].recycled)
            check_slot(st, i, st->touched_key);
        return;
    }
    bool done[FZ_SLOTS] = {false};
    for (int h = 0; h < FZ_HANDLES; h++) {
        int i = st->slot_handles[h];
        if (i < 0 || done[i] || st->slots[i].recycled) continue; /* nothing to read */
        done[i] = true;
        check_slot(st, i, -1);
    }
}

void fz_check_snapshots(fz_state *st) {
    char what[48];
    for (int h = 0; h < FZ_HANDLES; h++) {
        int i = st->slot_handles[h];
        if (i < 0 || st->slots[i].recycled) continue;
        ctxs_map *snapshot = NULL;
        int status = ctxs_slot_snapshot(st->slots[i].slot, &snapshot);
        FZ_ASSERT(st, status == CTXS_OK, "snapshot of slot %d: %s", i, ctxs_status_string(status));
        model_contents want;
        fz_slot_contents(st, i, &want);
        snprintf(what, sizeof what, "snapshot of slot %d (depth %zu)", i, st->slots[i].depth);
        check_map(st, snapshot, &want, what);
        ctxs_map_release(snapshot);
    }
}

/* Adds 1 to held[v] for every value v the contents hold. */
static void mark_values(bool held[FZ_IDS], const model_contents *c) {
    for (unsigned k = 0; k < MODEL_KEYS; k++)
        if (c->value[k] != 0 && c->value[k] != MODEL_TOMB) held[c->value[k]] = true;
}

void fz_check_references(fz_state *st) {
    ctxs_statistics stats;
    ctxs_store_statistics(st->store, &stats);

    /* held: values something live surely holds; maybe: those it may hold
     * (a copy's first contents may be more than its first map holds). */
    size_t slots = 0;
    int64_t memos[FZ_IDS] = {0};
    bool held[FZ_IDS] = {false}, maybe[FZ_IDS] = {false}, chained = false;
    for (int i = 0; i < FZ_SLOTS; i++) {
        const fz_slot *s = &st->slots[i];
        if (s->slot == NULL || i == st->spare) continue; /* the spare is not live */
        slots++;
        chained |= s->parent >= 0;
        if (s->memo != 0) memos[s->memo]++;
        mark_values(held, &s->layer);
        if (s->parent < 0 && s->touched && !s->first_over) mark_values(held, &s->first);
        if (s->parent < 0 && s->touched) mark_values(maybe, &s->first);
    }
    for (int h = 0; h < FZ_HANDLES; h++)
        if (st->maps[h].map != NULL) mark_values(held, &st->maps[h].model);
    for (unsigned id = 1; id < FZ_VALUES; id++) maybe[id] |= held[id];

    FZ_ASSERT(st, stats.live_slots == slots, "%zu live slots, model %zu", stats.live_slots, slots);
    FZ_ASSERT(st, stats.spare_slots == (st->spare >= 0 ? 1u : 0u), "%zu spare slots, model %d",
              stats.spare_slots, st->spare >= 0);
    /* Live slots and names at least (maps and nodes take more). */
    size_t least = st->base_bytes + st->name_bytes + slots * st->slot_bytes;
    FZ_ASSERT(st, stats.bytes_in_use >= least, "%zu bytes in use, but %zu live slots take %zu",
              stats.bytes_in_use, slots, least);
    FZ_ASSERT(st, stats.interned_keys == st->names.count, "%zu interned names, model %u",
              stats.interned_keys, st->names.count);

    /* Every leaf holds one reference to its value and nothing else does
     * (finds hand theirs back at once), so the references add up to the
     * live leaves exactly. */
    int64_t total = 0;
    for (unsigned id = 1; id < FZ_VALUES; id++) {
        total += st->counts[id];
        FZ_ASSERT(st, !held[id] || st->counts[id] > 0,
                  "value %u is in a live map but the store holds no reference to it", id);
        /* Only a chained slot's view (see ctxs_slot_find) may keep an entry
         * nothing else holds. */
        FZ_ASSERT(st, maybe[id] || chained || st->counts[id] == 0,
                  "value %u is in no live map or slot, but the store holds %lld references to it",
                  id, (long long)st->counts[id]);
    }
    FZ_ASSERT(st, total == (int64_t)stats.live_values,
              "the store holds %lld value references but has %zu live entries", (long long)total,
              stats.live_values);
    for (unsigned id = FZ_VALUES; id < FZ_IDS; id++) {
        FZ_ASSERT(st, st->counts[id] == memos[id], "memo %u: %lld references, model %lld", id,
                  (long long)st->counts[id], (long long)memos[id]);
    }
    FZ_ASSERT(st, st->counts[0] == 0, "a callback saw the value 0");
}
