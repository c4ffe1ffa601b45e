/*
 * fuzz_lifecycle.c: the slot-lifecycle operations of the fuzzer (see
 * fuzz.h): ctxs_slot_adopt, ctxs_slot_copy, ctxs_slot_recycle,
 * ctxs_slot_reset and the thread's spare, ctxs_thread_spare_put and
 * ctxs_thread_spare_take, and the Swift layer's fused pair,
 * ctxs_thread_spare_recycle and ctxs_thread_spare_take_borrowing.
 *
 * A slot taken borrowing holds no reference to its lender's first map, so
 * the lender must outlive it: as the Swift layer does (a `run` scope ends
 * before the one around it), the fuzzer has every borrower take a
 * reference of its own (fz_unlend, ctxs_slot_own_base) before a lender is
 * released for good or recycled. Without that, replaying the corpus reads
 * freed nodes.
 *
 * A recycled slot stays in its handle, marked in the model; the other slot
 * operations and the checks pass over it (slot_operand in fuzz_core.c),
 * since only reset and release are valid on it. As in the C tests
 * (test_spares), the spare parked is a recycled slot itself, in the
 * fuzzer's one store: its release callback (count_release) hands every
 * object to fz_spare_release first, which releases the parked slot, and
 * only while ctxs_store_destroy runs, the one time a spare may be released
 * in a program that never ends its thread.
 *
 * Adopt, reset and the spare calls allocate at most one slot and make or
 * free no map, so their effect on the statistics is checked exactly. A
 * recycle frees what the slot held, so there the references per value are
 * bounded instead: none to a value or memo the slot does not hold, exactly
 * one to its memo (fz_check_references then checks the totals, and that a
 * value nothing in the model holds has no reference left while no chained
 * slot, whose view may share entries, is live).
 */
#include "fuzz.h"

#include <string.h>

static ctxs_statistics stats_now(const fz_state *st) {
    ctxs_statistics stats;
    ctxs_store_statistics(st->store, &stats);
    return stats;
}

/* x moved by `by` units of `unit` (by may be negative). */
static size_t moved(size_t x, int by, size_t unit) {
    return by >= 0 ? x + (size_t)by * unit : x - (size_t)-by * unit;
}

/* Aborts unless, from `a` to `b`, live_slots moved by `slots`, spare_slots
 * by `spares` and bytes_in_use by `slot_units` slots, and the maps, nodes,
 * values and names did not move at all. */
static void expect_moved(const fz_state *st, const ctxs_statistics *a, const ctxs_statistics *b,
                         int slots, int spares, int slot_units, const char *what) {
    size_t want_slots = moved(a->live_slots, slots, 1);
    size_t want_spares = moved(a->spare_slots, spares, 1);
    size_t want_bytes = moved(a->bytes_in_use, slot_units, st->slot_bytes);
    FZ_ASSERT(st,
              b->live_roots == a->live_roots && b->live_nodes == a->live_nodes &&
                  b->live_values == a->live_values && b->interned_keys == a->interned_keys &&
                  b->live_slots == want_slots && b->spare_slots == want_spares &&
                  b->bytes_in_use == want_bytes,
              "%s: roots %zu->%zu nodes %zu->%zu values %zu->%zu names %zu->%zu slots %zu->%zu "
              "(model %zu) spares %zu->%zu (model %zu) bytes %zu->%zu (model %zu)",
              what, a->live_roots, b->live_roots, a->live_nodes, b->live_nodes, a->live_values,
              b->live_values, a->interned_keys, b->interned_keys, a->live_slots, b->live_slots,
              want_slots, a->spare_slots, b->spare_slots, want_spares, a->bytes_in_use,
              b->bytes_in_use, want_bytes);
}

void fz_lifecycle_start(fz_state *st) {
    ctxs_statistics fresh = stats_now(st);
    ctxs_slot *slot = ctxs_slot_create(st->store, NULL, NULL);
    FZ_ASSERT(st, slot != NULL, "a new store made no slot");
    ctxs_statistics one = stats_now(st);
    FZ_ASSERT(st, one.live_slots == 1 && one.bytes_in_use > fresh.bytes_in_use,
              "a new slot: %zu live slots, bytes %zu->%zu", one.live_slots, fresh.bytes_in_use,
              one.bytes_in_use);
    st->slot_bytes = one.bytes_in_use - fresh.bytes_in_use;
    ctxs_slot_release(slot);
    ctxs_statistics after = stats_now(st);
    expect_moved(st, &fresh, &after, 0, 0, 0, "a slot made and released");
    st->base_bytes = fresh.bytes_in_use;
    st->name_bytes = 0;
}

/* The map reference an adopt or reset hands over, from map handle m: the
 * handle's own (*own false), a fork of it, or, for an empty handle, a new
 * empty map (*own true: the operation must release it if not taken). */
static ctxs_map *map_to_give(fz_state *st, const fz_map *m, bool fork, bool *own,
                             model_contents *contents) {
    if (m->map == NULL) {
        model_clear(contents);
        *own = true;
        return ctxs_map_new(st->store);
    }
    *contents = m->model;
    *own = fork;
    return fork ? ctxs_map_fork(m->map) : m->map;
}

fz_outcome fz_op_slot_adopt(fz_state *st, fz_reader *r) {
    fz_map *m = &st->maps[fz_handle(r)];
    unsigned dst = fz_handle(r);
    uint8_t mode = fz_next(r);
    int i = fz_slot_free_index(st);
    if (i < 0) return FZ_SKIPPED;
    bool own;
    model_contents contents;
    ctxs_map *map = map_to_give(st, m, mode & 1, &own, &contents);
    if ((mode & 6) == 6) {
        /* Its one allocation (the slot) fails: op_fail_next rarely hits it. */
        ctxs_store_fail_allocation(st->store, 1);
        st->armed = true;
    }
    ctxs_statistics before = stats_now(st);
    ctxs_slot *slot = ctxs_slot_adopt(st->store, map);
    ctxs_statistics after = stats_now(st);
    if (slot == NULL) {
        /* Nothing taken: the reference is still the caller's. */
        expect_moved(st, &before, &after, 0, 0, 0, "failed ctxs_slot_adopt");
        if (own) ctxs_map_release(map);
        return fz_failed(st, CTXS_ENOMEM, "ctxs_slot_adopt");
    }
    expect_moved(st, &before, &after, 1, 0, 1, "ctxs_slot_adopt");
    if (!own) m->map = NULL; /* the slot holds the handle's reference now */
    fz_slot_register(st, i, slot, -1);
    st->slots[i].layer = contents;
    fz_slot_started(st, i);
    fz_slot_handle_set(st, dst, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

/* A copy holds what `from` holds (its merged contents, for a chained slot),
 * in a new slot or in a recycled one. Whether it starts touched is the
 * core's choice: it is when `from` had entries pending (slot.c), which the
 * model does not track. So the model asks the copy (ctxs_slot_borrow_base),
 * after checking what must hold: a copy of a chained or untouched slot is
 * untouched. A touched copy's first contents are then taken to be all of
 * its contents, a superset of its map's (first_over): the checks then
 * count on them only for the references a slot may hold or release, not
 * for those it must hold. */
fz_outcome fz_op_slot_copy(fz_state *st, fz_reader *r) {
    int f = st->slot_handles[fz_handle(r)];
    unsigned dst = fz_handle(r);
    uint8_t mode = fz_next(r);
    if (f < 0 || st->slots[f].recycled) return FZ_SKIPPED;
    int into = -1; /* a recycled slot that only a handle holds, or a new one */
    if (mode & 1) {
        into = st->slot_handles[(mode >> 1) % FZ_HANDLES];
        if (into < 0 || !st->slots[into].recycled || st->slots[into].refs != 1) return FZ_SKIPPED;
    }
    int i = into >= 0 ? into : fz_slot_free_index(st);
    if (i < 0) return FZ_SKIPPED;
    fz_slot *from = &st->slots[f];
    model_contents contents;
    fz_slot_contents(st, f, &contents);
    ctxs_statistics before = stats_now(st);
    ctxs_slot *slot =
        ctxs_slot_copy(st->store, from->slot, into >= 0 ? st->slots[into].slot : NULL);
    if (slot == NULL) { /* the store as it was: fz_census_same checks the rest */
        ctxs_map *none = NULL;
        FZ_ASSERT(st, into < 0 || ctxs_slot_borrow_base(st->slots[into].slot, &none) == 0,
                  "a failed ctxs_slot_copy left its recycled slot reset");
        return fz_failed(st, CTXS_ENOMEM, "ctxs_slot_copy");
    }
    ctxs_statistics after = stats_now(st);
    FZ_ASSERT(st, into < 0 || slot == st->slots[into].slot,
              "ctxs_slot_copy into a recycled slot returned another slot");
    FZ_ASSERT(st,
              after.live_slots == before.live_slots + (into < 0) &&
                  after.spare_slots == before.spare_slots &&
                  after.interned_keys == before.interned_keys,
              "ctxs_slot_copy: slots %zu->%zu spares %zu->%zu names %zu->%zu", before.live_slots,
              after.live_slots, before.spare_slots, after.spare_slots, before.interned_keys,
              after.interned_keys);
    ctxs_map *base = NULL;
    bool untouched = ctxs_slot_borrow_base(slot, &base) == 1;
    FZ_ASSERT(st, untouched || (from->parent < 0 && from->touched), "a copy of a%s slot is touched",
              from->parent >= 0 ? " chained" : "n untouched");
    if (into < 0) fz_slot_register(st, i, slot, -1);
    fz_slot *s = &st->slots[i];
    s->recycled = false;
    s->layer = contents;
    fz_written(st, i); /* for a recycled slot: snapshots of its last life are stale */
    fz_slot_started(st, i);
    s->touched = !untouched;
    s->first_over = !untouched;
    if (into < 0) fz_slot_handle_set(st, dst, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

/* After object i was recycled (and, if `parked`, parked as the spare):
 * checks the statistics and the references released against `counts` and
 * `before`, taken just before, and empties i in the model. */
static void recycled(fz_state *st, int i, const int64_t counts[FZ_IDS],
                     const ctxs_statistics *before, bool parked, const char *what) {
    fz_slot *s = &st->slots[i];
    ctxs_statistics after = stats_now(st);
    size_t slots = before->live_slots - parked, spares = before->spare_slots + parked;
    FZ_ASSERT(
        st,
        after.live_slots == slots && after.spare_slots == spares &&
            after.interned_keys == before->interned_keys &&
            after.live_roots <= before->live_roots && after.live_nodes <= before->live_nodes &&
            after.live_values <= before->live_values && after.bytes_in_use <= before->bytes_in_use,
        "%s: slots %zu->%zu (model %zu) spares %zu->%zu (model %zu) names %zu->%zu roots "
        "%zu->%zu nodes %zu->%zu values %zu->%zu bytes %zu->%zu",
        what, before->live_slots, after.live_slots, slots, before->spare_slots, after.spare_slots,
        spares, before->interned_keys, after.interned_keys, before->live_roots, after.live_roots,
        before->live_nodes, after.live_nodes, before->live_values, after.live_values,
        before->bytes_in_use, after.bytes_in_use);
    /* It released what the slot held, and nothing else; its memo exactly
     * once (fz_check_references then checks every memo's count). */
    bool held[FZ_IDS] = {false};
    for (unsigned k = 0; k < MODEL_KEYS; k++) {
        if (s->layer.value[k] < FZ_VALUES)
            held[s->layer.value[k]] = true; /* plain: no tombstones */
        if (s->touched && s->first.value[k] < FZ_VALUES) held[s->first.value[k]] = true;
    }
    for (unsigned id = 1; id < FZ_IDS; id++) {
        int64_t released = counts[id] - st->counts[id];
        int64_t most = id < FZ_VALUES ? (held[id] ? counts[id] : 0) : id == s->memo;
        int64_t least = id < FZ_VALUES ? 0 : id == s->memo;
        FZ_ASSERT(st, released >= least && released <= most,
                  "%s released %lld references to %s %u (%lld before; the slot holds it: %s)", what,
                  (long long)released, id < FZ_VALUES ? "value" : "memo", id, (long long)counts[id],
                  (id < FZ_VALUES ? held[id] : id == s->memo) ? "yes" : "no");
    }
    model_clear(&s->layer);
    s->cleared = false;
    s->recycled = true;
    s->lender = -1;
    fz_written(st, i);
    s->touched = false;     /* as in the core, until a reset gives it contents */
    model_clear(&s->first); /* reset gives it new contents (fz_slot_started) */
}

fz_outcome fz_op_slot_recycle(fz_state *st, fz_reader *r) {
    int i = st->slot_handles[fz_handle(r)]; /* a recycled slot too */
    if (i < 0) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    bool expect = s->parent < 0 && s->refs == 1 && !s->recycled;
    if (expect) fz_unlend(st, i);
    int64_t counts[FZ_IDS];
    memcpy(counts, st->counts, sizeof counts);
    ctxs_statistics before = stats_now(st);
    int done = ctxs_slot_recycle(s->slot);
    FZ_ASSERT(st, done == expect, "ctxs_slot_recycle returned %d on a %s%s slot with %d holders",
              done, s->recycled ? "recycled " : "", s->parent >= 0 ? "chained" : "plain", s->refs);
    if (!done) {
        if (!s->recycled) fz_touch(st, i, -1); /* re-read: it must be as it was */
        return FZ_UNCHANGED;
    }
    recycled(st, i, counts, &before, false, "ctxs_slot_recycle");
    return FZ_DONE;
}

fz_outcome fz_op_spare_recycle(fz_state *st, fz_reader *r) {
    unsigned h = fz_handle(r);
    int i = st->slot_handles[h];
    if (i < 0) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    /* Only a plain slot the Swift layer holds alone is ever passed in, but
     * anything else must be left alive, owning any map it borrowed. */
    bool recyclable = s->parent < 0 && s->refs == 1 && !s->recycled;
    if (recyclable) fz_unlend(st, i);
    bool park = recyclable && st->spare < 0;
    int64_t counts[FZ_IDS];
    memcpy(counts, st->counts, sizeof counts);
    ctxs_statistics before = stats_now(st);
    int parked = ctxs_thread_spare_recycle(st->store, s->slot, s->slot);
    FZ_ASSERT(st, parked == park,
              "ctxs_thread_spare_recycle returned %d on a %s%s slot with %d holders, %s parked",
              parked, s->recycled ? "recycled " : "", s->parent >= 0 ? "chained" : "plain", s->refs,
              st->spare >= 0 ? "a spare" : "none");
    if (!recyclable) {
        ctxs_statistics after = stats_now(st);
        expect_moved(st, &before, &after, 0, 0, 0, "ctxs_thread_spare_recycle, not recycled");
        s->lender = -1; /* it owns what it borrowed now */
        if (!s->recycled) fz_touch(st, i, -1);
        return FZ_UNCHANGED;
    }
    recycled(st, i, counts, &before, parked, "ctxs_thread_spare_recycle");
    if (parked) {
        st->slot_handles[h] = -1; /* the store holds the handle's reference now */
        st->spare = i;
        st->spare_fused = true;
    }
    return FZ_DONE;
}

fz_outcome fz_op_spare_take_borrowing(fz_state *st, fz_reader *r) {
    int l = st->slot_handles[fz_handle(r)]; /* any slot, recycled too */
    unsigned dst = fz_handle(r);
    if (l < 0) return FZ_SKIPPED;
    fz_slot *lender = &st->slots[l];
    int i = st->spare;
    bool lends = lender->parent < 0 && !lender->touched && !lender->recycled;
    bool expect = i >= 0 && st->spare_fused && lends;
    ctxs_statistics before = stats_now(st);
    void *taken = ctxs_thread_spare_take_borrowing(st->store, lender->slot);
    ctxs_statistics after = stats_now(st);
    FZ_ASSERT(
        st, taken == (expect ? (void *)st->slots[i].slot : NULL),
        "ctxs_thread_spare_take_borrowing returned %p, model %p (spare %d, %s; lender %s%s%s)",
        taken, expect ? (void *)st->slots[i].slot : NULL, i,
        st->spare_fused ? "parked by a recycle" : "parked by a put",
        lender->recycled ? "recycled " : "", lender->touched ? "touched " : "",
        lender->parent >= 0 ? "chained" : "plain");
    if (taken == NULL) {
        expect_moved(st, &before, &after, 0, 0, 0, "ctxs_thread_spare_take_borrowing, none");
        return FZ_UNCHANGED;
    }
    /* No map made or released: the slot is live again, over the lender's map. */
    expect_moved(st, &before, &after, 1, -1, 1, "ctxs_thread_spare_take_borrowing");
    st->spare = -1;
    fz_slot *s = &st->slots[i];
    s->recycled = false;
    s->layer = lender->layer; /* untouched: its first contents */
    s->lender = l;
    fz_written(st, i); /* snapshots of its last life are stale */
    fz_slot_started(st, i);
    fz_slot_handle_set(st, dst, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

void fz_unlend(fz_state *st, int i) {
    for (int j = 0; j < FZ_SLOTS; j++) {
        fz_slot *b = &st->slots[j];
        if (b->slot == NULL || b->lender != i) continue;
        ctxs_slot_own_base(b->slot);
        b->lender = -1;
    }
}

fz_outcome fz_op_slot_reset(fz_state *st, fz_reader *r) {
    int i = st->slot_handles[fz_handle(r)]; /* recycled or not */
    fz_map *m = &st->maps[fz_handle(r)];
    bool fork = fz_next(r) & 1;
    if (i < 0) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    bool own;
    model_contents contents;
    ctxs_map *map = map_to_give(st, m, fork, &own, &contents);
    ctxs_statistics before = stats_now(st);
    int status = ctxs_slot_reset(s->slot, map);
    ctxs_statistics after = stats_now(st);
    expect_moved(st, &before, &after, 0, 0, 0, "ctxs_slot_reset");
    if (!s->recycled) {
        FZ_ASSERT(st, status == CTXS_EINVAL,
                  "ctxs_slot_reset of a %s slot that was not recycled returned %s",
                  s->parent >= 0 ? "chained" : "plain", ctxs_status_string(status));
        if (own) ctxs_map_release(map); /* not taken */
        fz_touch(st, i, -1);
        return FZ_UNCHANGED;
    }
    FZ_ASSERT(st, status == CTXS_OK, "ctxs_slot_reset of a recycled slot returned %s",
              ctxs_status_string(status));
    if (!own) m->map = NULL; /* the slot holds the handle's reference now */
    s->recycled = false;
    s->layer = contents;
    fz_written(st, i); /* snapshots of its last life are stale */
    fz_slot_started(st, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

fz_outcome fz_op_spare_put(fz_state *st, fz_reader *r) {
    unsigned h = fz_handle(r);
    int i = st->slot_handles[h];
    if (i < 0) {
        FZ_ASSERT(st, ctxs_thread_spare_put(st->store, NULL) == 0,
                  "ctxs_thread_spare_put parked NULL");
        return FZ_UNCHANGED;
    }
    fz_slot *s = &st->slots[i];
    /* What is parked must own one recycled slot and nothing else. */
    if (!s->recycled || s->refs != 1) return FZ_SKIPPED;
    ctxs_statistics before = stats_now(st);
    int put = ctxs_thread_spare_put(st->store, s->slot);
    ctxs_statistics after = stats_now(st);
    FZ_ASSERT(st, put == (st->spare < 0), "ctxs_thread_spare_put returned %d with %s parked", put,
              st->spare >= 0 ? "a spare" : "none");
    if (!put) return FZ_UNCHANGED;
    /* The slot leaves the live figures for the spare ones. */
    expect_moved(st, &before, &after, -1, 1, -1, "ctxs_thread_spare_put");
    st->slot_handles[h] = -1; /* the store holds the handle's reference now */
    st->spare = i;
    st->spare_fused = false;
    return FZ_DONE;
}

fz_outcome fz_op_spare_take(fz_state *st, fz_reader *r) {
    unsigned dst = fz_handle(r);
    int i = st->spare;
    void *want = i >= 0 ? st->slots[i].slot : NULL;
    ctxs_statistics before = stats_now(st);
    void *taken = ctxs_thread_spare_take(st->store);
    FZ_ASSERT(st, taken == want, "ctxs_thread_spare_take returned %p, model %p", taken, want);
    if (taken == NULL) return FZ_UNCHANGED;
    FZ_ASSERT(st, ctxs_thread_spare_take(st->store) == NULL,
              "ctxs_thread_spare_take returned the spare twice");
    ctxs_statistics after = stats_now(st);
    expect_moved(st, &before, &after, 1, -1, 1, "ctxs_thread_spare_take");
    st->spare = -1;
    fz_slot_handle_set(st, dst, i); /* still recycled: reset or release it */
    return FZ_DONE;
}

fz_outcome fz_op_lifecycle_invalid(fz_state *st, fz_reader *r) {
    uint8_t what = fz_next(r) % 3;
    int i = st->slot_handles[fz_handle(r)];
    ctxs_slot *slot = i >= 0 ? st->slots[i].slot : NULL;
    switch (what) {
    case 0:
        FZ_ASSERT(st, ctxs_slot_adopt(st->store, NULL) == NULL, "ctxs_slot_adopt adopted NULL");
        FZ_ASSERT(st, ctxs_thread_spare_put(st->store, NULL) == 0,
                  "ctxs_thread_spare_put parked NULL");
        break;
    case 1: {
        /* Another store's map: refused by adopt, and by reset of a recycled slot. */
        ctxs_store *other = ctxs_store_create(NULL);
        FZ_ASSERT(st, other != NULL, "a second store could not be made");
        ctxs_map *foreign = ctxs_map_new(other);
        FZ_ASSERT(st, ctxs_slot_adopt(st->store, foreign) == NULL,
                  "ctxs_slot_adopt took another store's map");
        if (slot != NULL && st->slots[i].recycled) {
            FZ_ASSERT(st, ctxs_slot_reset(slot, foreign) == CTXS_EINVAL,
                      "ctxs_slot_reset took another store's map");
        }
        ctxs_map_release(foreign);
        FZ_ASSERT(st, ctxs_store_destroy(other) == CTXS_OK, "the second store is busy");
        break;
    }
    default: {
        /* A store without a release callback could never free a spare. */
        ctxs_store *other = ctxs_store_create(NULL);
        FZ_ASSERT(st, other != NULL, "a second store could not be made");
        ctxs_slot *spare = ctxs_slot_create(other, NULL, NULL);
        FZ_ASSERT(st, spare != NULL, "the second store made no slot");
        FZ_ASSERT(st, ctxs_slot_recycle(spare) == 1, "the second store's slot did not recycle");
        FZ_ASSERT(st, ctxs_thread_spare_put(other, spare) == 0,
                  "ctxs_thread_spare_put parked a slot in a store without a release callback");
        FZ_ASSERT(st, ctxs_thread_spare_take(other) == NULL,
                  "ctxs_thread_spare_take of a store without a spare returned one");
        ctxs_slot_release(spare);
        FZ_ASSERT(st, ctxs_store_destroy(other) == CTXS_OK, "the second store is busy");
        break;
    }
    }
    return FZ_UNCHANGED;
}

bool fz_spare_release(fz_state *st, void *object) {
    int i = st->spare;
    if (i < 0 || object != st->slots[i].slot) return false;
    FZ_ASSERT(st, st->destroying, "the store released the parked spare outside ctxs_store_destroy");
    st->spare = -1;
    fz_slot_drop(st, i);
    return true;
}

int fz_store_destroy(fz_state *st) {
    st->destroying = true;
    int status = ctxs_store_destroy(st->store);
    st->destroying = false;
    FZ_ASSERT(st, st->spare < 0, "ctxs_store_destroy (%s) did not release the parked spare",
              ctxs_status_string(status));
    return status;
}
