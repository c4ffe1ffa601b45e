/*
 * fuzz_core.c: a differential libFuzzer target for the C core.
 *
 * The input is a program. Its first byte picks the allocator backend
 * (arena, malloc, or jemalloc when built in) and whether every slot is
 * re-read after every operation ("full") or only the key the operation
 * touched ("light": reads move a chained slot's view cache, so fewer reads
 * let the fuzzer reach other cache states). Each following byte picks an
 * operation, whose operands are the bytes after it; a program that ends
 * early reads zeros.
 *
 * Operations work on 8 map handles and 8 slot handles: persistent maps
 * (new, fork, assoc, without, release), plain and chained slots (create,
 * retain, release, assoc, without, clear, replace, snapshot, reads, memos,
 * the thread's slot), a slot's lifecycle (adopt, recycle, reset, and the
 * thread's spare: fuzz_lifecycle.c), interning (empty, short, long and
 * near-duplicate names, NUL bytes included), invalid arguments, and the
 * allocation-failure hook, which makes the n-th allocation of the next
 * operation fail.
 *
 * After every operation the core is compared with the reference model
 * (model.h) by fuzz_check.c: map contents and canonical shapes, slot reads,
 * the references the store holds to each value, live and spare slots, and,
 * when an operation reports failure, that nothing at all changed. At the
 * end everything is released and the store must account for zero objects,
 * zero references and the bytes of a new store plus its names, and destroy
 * cleanly. A mismatch aborts with a message.
 *
 * Owns: sequences of operations nobody wrote by hand, and the interplay of
 * failures with every state. Tests/C owns the hand-pinned cases (exact
 * shapes, threads, backends); the reference model here is the fuzzer's own
 * (model.h; Tests/C/map_model.h says why the two are not one).
 *
 * Build and run: `make fuzz`, `make fuzz-replay` (see the Makefile).
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operations per input: bounds the time of one run. */
#define FZ_MAX_OPERATIONS 1500
/* Longest interned name: 200 + 255 * 16 + 255 bytes. */
#define FZ_NAME_MAX 4600

static fz_state state;
static unsigned char name_buffer[FZ_NAME_MAX];

/* ------------------------------------------------------------ the input */

uint8_t fz_next(fz_reader *r) {
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}

static uint64_t next64(fz_reader *r) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = x << 8 | fz_next(r);
    return x;
}

unsigned fz_handle(fz_reader *r) { return fz_next(r) % FZ_HANDLES; }

/* A pool position; the pool is seeded, so it is never empty. */
static unsigned key_of(fz_state *st, fz_reader *r) { return fz_next(r) % st->keys.count; }

static unsigned value_of(fz_reader *r) { return 1 + fz_next(r) % (FZ_VALUES - 1); }

/* ------------------------------------------------------ value callbacks */

static void count_retain(void *context, void *value) {
    fz_state *st = context;
    uintptr_t id = (uintptr_t)value;
    FZ_ASSERT(st, id > 0 && id < FZ_IDS, "retain of %p, a value the fuzzer never stored", value);
    st->counts[id]++;
}

static void count_release(void *context, void *value) {
    fz_state *st = context;
    if (fz_spare_release(st, value)) return; /* the parked spare, a slot */
    uintptr_t id = (uintptr_t)value;
    FZ_ASSERT(st, id > 0 && id < FZ_IDS, "release of %p, a value the fuzzer never stored", value);
    FZ_ASSERT(st, st->counts[id] > 0, "value %u released more often than retained", (unsigned)id);
    st->counts[id]--;
}

/* ------------------------------------------------------------- handles */

/* A failure status is only acceptable when the hook made it happen. */
fz_outcome fz_failed(fz_state *st, int status, const char *operation) {
    FZ_ASSERT(st, status == CTXS_ENOMEM && st->armed, "%s returned %s (hook %s)", operation,
              ctxs_status_string(status), st->armed ? "armed" : "off");
    return FZ_UNCHANGED;
}

static void map_store(fz_state *st, unsigned h, ctxs_map *map, const model_contents *model) {
    fz_map *m = &st->maps[h];
    ctxs_map *old = m->map;
    m->map = map;
    m->model = *model;
    m->snap_slot = -1;
    ctxs_map_release(old);
}

int fz_slot_free_index(const fz_state *st) {
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->slots[i].slot == NULL) return i;
    return -1;
}

/* Records a slot the core just made; the caller holds its one reference. */
int fz_slot_register(fz_state *st, int i, ctxs_slot *slot, int parent) {
    fz_slot *s = &st->slots[i];
    memset(s, 0, sizeof *s);
    s->slot = slot;
    s->refs = 1;
    s->parent = parent;
    s->depth = parent >= 0 ? st->slots[parent].depth + 1 : 0;
    s->serial = ++st->serial;
    s->touched = parent >= 0; /* `first` is set with the contents (fz_slot_started) */
    s->lender = -1;
    if (parent >= 0) st->slots[parent].refs++;
    FZ_ASSERT(st, ctxs_slot_parent(slot) == (parent >= 0 ? st->slots[parent].slot : NULL),
              "new slot %d: wrong parent", i);
    FZ_ASSERT(st, ctxs_slot_depth(slot) == s->depth, "new slot %d: depth %zu, model %zu", i,
              ctxs_slot_depth(slot), s->depth);
    return i;
}

/* Drops one model reference to object i, and to its ancestors as they die. */
void fz_slot_unref(fz_state *st, int i) {
    while (i >= 0) {
        fz_slot *s = &st->slots[i];
        FZ_ASSERT(st, s->slot != NULL && s->refs > 0, "model: slot %d released twice", i);
        if (--s->refs > 0) return;
        fz_unlend(st, i); /* the core frees it after this */
        s->slot = NULL;
        i = s->parent;
    }
}

/* Releases one reference to object i, in the core and in the model. */
void fz_slot_drop(fz_state *st, int i) {
    ctxs_slot *slot = st->slots[i].slot;
    fz_slot_unref(st, i);
    ctxs_slot_release(slot);
}

/* Handle h takes over a reference to object i (already counted). */
void fz_slot_handle_set(fz_state *st, unsigned h, int i) {
    int old = st->slot_handles[h];
    st->slot_handles[h] = i;
    if (old >= 0) fz_slot_drop(st, old);
}

/* The slot object behind a handle operand, or -1 (for a recycled slot too:
 * only fuzz_lifecycle.c's reset and release may touch it). */
static int slot_operand(fz_state *st, fz_reader *r) {
    int i = st->slot_handles[fz_handle(r)];
    return i >= 0 && !st->slots[i].recycled ? i : -1;
}

void fz_touch(fz_state *st, int slot, int key) {
    st->touched_slot = slot;
    st->touched_key = key;
}

/* A successful write: the memo goes, and snapshots taken before are stale. */
void fz_written(fz_state *st, int i) {
    st->slots[i].writes++;
    st->slots[i].memo = 0;
    st->slots[i].touched = true;
}

void fz_slot_started(fz_state *st, int i) {
    st->slots[i].first = st->slots[i].layer;
    st->slots[i].touched = st->slots[i].parent >= 0;
    st->slots[i].first_over = false;
}

/* ------------------------------------------------------------- map ops */

static fz_outcome op_map_new(fz_state *st, fz_reader *r) {
    model_contents empty;
    model_clear(&empty);
    map_store(st, fz_handle(r), ctxs_map_new(st->store), &empty);
    return FZ_DONE;
}

static fz_outcome op_map_fork(fz_state *st, fz_reader *r) {
    unsigned src = fz_handle(r), dst = fz_handle(r);
    fz_map from = st->maps[src];
    if (from.map == NULL) return FZ_SKIPPED;
    ctxs_map *fork = ctxs_map_fork(from.map);
    FZ_ASSERT(st, fork == from.map, "fork returned another map");
    map_store(st, dst, fork, &from.model);
    st->maps[dst].snap_slot = from.snap_slot; /* the same map object */
    st->maps[dst].snap_serial = from.snap_serial;
    st->maps[dst].snap_writes = from.snap_writes;
    return FZ_DONE;
}

static fz_outcome op_map_release(fz_state *st, fz_reader *r) {
    fz_map *m = &st->maps[fz_handle(r)];
    ctxs_map_release(m->map);
    m->map = NULL;
    return FZ_DONE;
}

/* assoc (value != 0) or without (value == 0) from handle src into dst. */
static fz_outcome map_write(fz_state *st, fz_reader *r, bool assoc) {
    unsigned src = fz_handle(r), dst = fz_handle(r), k = key_of(st, r);
    unsigned value = assoc ? value_of(r) : 0;
    fz_map from = st->maps[src];
    if (from.map == NULL) return FZ_SKIPPED;
    ctxs_map *sentinel = (ctxs_map *)&state, *out = sentinel;
    int status = assoc ? ctxs_map_assoc(from.map, st->keys.id[k], fz_value(value), &out)
                       : ctxs_map_without(from.map, st->keys.id[k], &out);
    if (status != CTXS_OK) {
        FZ_ASSERT(st, out == sentinel, "failed map write touched *out");
        return fz_failed(st, status, assoc ? "ctxs_map_assoc" : "ctxs_map_without");
    }
    bool same = from.model.value[k] == value;
    FZ_ASSERT(st, !same || out == from.map,
              "a map write that changes nothing must return the map itself");
    FZ_ASSERT(st, same || out != from.map, "a map write returned its input map changed");
    model_contents next = from.model;
    next.value[k] = (uint16_t)value;
    map_store(st, dst, out, &next);
    if (same) {
        st->maps[dst].snap_slot = from.snap_slot;
        st->maps[dst].snap_serial = from.snap_serial;
        st->maps[dst].snap_writes = from.snap_writes;
    }
    return FZ_DONE;
}

static fz_outcome op_map_assoc(fz_state *st, fz_reader *r) { return map_write(st, r, true); }
static fz_outcome op_map_without(fz_state *st, fz_reader *r) { return map_write(st, r, false); }

/* ------------------------------------------------------------ slot ops */

static fz_outcome op_slot_plain(fz_state *st, fz_reader *r) {
    unsigned dst = fz_handle(r);
    uint8_t b = fz_next(r);
    const fz_map *initial = b & 8 ? NULL : &st->maps[b % FZ_HANDLES];
    if (initial != NULL && initial->map == NULL) initial = NULL;
    int i = fz_slot_free_index(st);
    if (i < 0) return FZ_SKIPPED;
    ctxs_slot *slot = ctxs_slot_create(st->store, initial ? initial->map : NULL, NULL);
    if (slot == NULL) return fz_failed(st, CTXS_ENOMEM, "ctxs_slot_create (plain)");
    fz_slot_register(st, i, slot, -1);
    if (initial != NULL) st->slots[i].layer = initial->model;
    fz_slot_started(st, i);
    fz_slot_handle_set(st, dst, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

/* Creates 1 (usually) or up to 24 chained levels below a slot handle; the
 * levels in between are held only by their children. */
static fz_outcome op_slot_chained(fz_state *st, fz_reader *r) {
    int parent = slot_operand(st, r);
    unsigned dst = fz_handle(r);
    uint8_t c = fz_next(r);
    unsigned levels = c < 192 ? 1 : 1 + c % 24;
    if (parent < 0) return FZ_SKIPPED;
    int made = -1; /* the deepest level made so far; this op holds it */
    for (unsigned n = 0; n < levels; n++) {
        int above = made >= 0 ? made : parent;
        int i = fz_slot_free_index(st);
        if (i < 0 || st->slots[above].depth >= FZ_MAX_DEPTH) break;
        ctxs_slot *slot = ctxs_slot_create(st->store, NULL, st->slots[above].slot);
        if (slot == NULL) {
            fz_failed(st, CTXS_ENOMEM, "ctxs_slot_create (chained)");
            break;
        }
        fz_slot_register(st, i, slot, above);
        if (made >= 0) fz_slot_drop(st, made); /* its child holds it now */
        made = i;
    }
    if (made < 0) return st->armed ? FZ_UNCHANGED : FZ_SKIPPED;
    fz_slot_handle_set(st, dst, made);
    fz_touch(st, made, -1);
    return FZ_DONE;
}

static fz_outcome op_slot_retain(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    unsigned dst = fz_handle(r);
    if (i < 0) return FZ_SKIPPED;
    FZ_ASSERT(st, ctxs_slot_retain(st->slots[i].slot) == st->slots[i].slot,
              "ctxs_slot_retain returned another slot");
    st->slots[i].refs++;
    fz_slot_handle_set(st, dst, i);
    return FZ_DONE;
}

static fz_outcome op_slot_release(fz_state *st, fz_reader *r) {
    unsigned h = fz_handle(r);
    int i = st->slot_handles[h];
    if (i < 0) return FZ_SKIPPED;
    st->slot_handles[h] = -1;
    fz_slot_drop(st, i);
    return FZ_DONE;
}

static fz_outcome slot_write(fz_state *st, fz_reader *r, bool assoc) {
    int i = slot_operand(st, r);
    unsigned k = key_of(st, r), value = assoc ? value_of(r) : 0;
    if (i < 0) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    fz_touch(st, i, (int)k);
    int status = assoc ? ctxs_slot_assoc(s->slot, st->keys.id[k], fz_value(value))
                       : ctxs_slot_without(s->slot, st->keys.id[k]);
    if (status != CTXS_OK)
        return fz_failed(st, status, assoc ? "ctxs_slot_assoc" : "ctxs_slot_without");
    if (assoc) {
        s->layer.value[k] = (uint16_t)value;
    } else {
        /* A chained layer hides the inherited entry unless it hides all. */
        s->layer.value[k] = s->parent >= 0 && !s->cleared ? MODEL_TOMB : 0;
    }
    fz_written(st, i);
    return FZ_DONE;
}

static fz_outcome op_slot_assoc(fz_state *st, fz_reader *r) { return slot_write(st, r, true); }
static fz_outcome op_slot_without(fz_state *st, fz_reader *r) { return slot_write(st, r, false); }

static fz_outcome op_slot_clear(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    if (i < 0) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    int status = ctxs_slot_clear(s->slot);
    FZ_ASSERT(st, status == CTXS_OK, "ctxs_slot_clear returned %s", ctxs_status_string(status));
    model_clear(&s->layer);
    s->cleared = s->parent >= 0;
    fz_written(st, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

static fz_outcome op_slot_replace(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    const fz_map *m = &st->maps[fz_handle(r)];
    if (i < 0 || m->map == NULL) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    int status = ctxs_slot_replace(s->slot, m->map);
    FZ_ASSERT(st, status == CTXS_OK, "ctxs_slot_replace returned %s", ctxs_status_string(status));
    s->layer = m->model;
    s->cleared = s->parent >= 0;
    fz_written(st, i);
    fz_touch(st, i, -1);
    return FZ_DONE;
}

static fz_outcome op_slot_snapshot(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    unsigned dst = fz_handle(r);
    if (i < 0) return FZ_SKIPPED;
    ctxs_map *sentinel = (ctxs_map *)&state, *out = sentinel;
    int status = ctxs_slot_snapshot(st->slots[i].slot, &out);
    if (status != CTXS_OK) {
        FZ_ASSERT(st, out == sentinel, "failed snapshot touched *out");
        return fz_failed(st, status, "ctxs_slot_snapshot");
    }
    model_contents contents;
    fz_slot_contents(st, i, &contents);
    map_store(st, dst, out, &contents);
    st->maps[dst].snap_slot = i;
    st->maps[dst].snap_serial = st->slots[i].serial;
    st->maps[dst].snap_writes = st->slots[i].writes;
    return FZ_DONE;
}

static fz_outcome op_slot_read(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    unsigned k = key_of(st, r), style = fz_next(r);
    if (i < 0) return FZ_SKIPPED;
    fz_check_slot_key(st, i, k, style);
    return FZ_DONE;
}

static fz_outcome op_memo_set(fz_state *st, fz_reader *r) {
    int i = slot_operand(st, r);
    const fz_map *m = &st->maps[fz_handle(r)];
    unsigned memo = FZ_MEMO_BASE + fz_next(r) % (FZ_IDS - FZ_MEMO_BASE);
    if (i < 0 || m->map == NULL) return FZ_SKIPPED;
    fz_slot *s = &st->slots[i];
    model_contents contents;
    fz_slot_contents(st, i, &contents);
    bool possible = s->parent < 0 && s->memo == 0 && model_equal(&contents, &m->model);
    /* A snapshot taken since the last write is the slot's map itself. */
    bool certain =
        possible && m->snap_slot == i && m->snap_serial == s->serial && m->snap_writes == s->writes;
    int stored = ctxs_slot_memo_set(s->slot, m->map, fz_value(memo));
    FZ_ASSERT(st, stored == 0 || possible, "memo_set stored a memo it must refuse");
    FZ_ASSERT(st, stored == 1 || !certain, "memo_set refused a memo for the current snapshot");
    if (stored) s->memo = memo;
    return stored ? FZ_DONE : FZ_UNCHANGED;
}

/* The thread's own slot: get (into a handle), drop, or peek. */
static fz_outcome op_thread(fz_state *st, fz_reader *r) {
    uint8_t what = fz_next(r) % 3;
    unsigned dst = fz_handle(r);
    int t = st->thread_slot;
    if (what == 0) {
        int i = t >= 0 ? t : fz_slot_free_index(st);
        if (i < 0) return FZ_SKIPPED;
        ctxs_slot *slot = ctxs_thread_slot(st->store);
        if (t >= 0) {
            FZ_ASSERT(st, slot == st->slots[t].slot, "ctxs_thread_slot changed");
        } else {
            if (slot == NULL) return fz_failed(st, CTXS_ENOMEM, "ctxs_thread_slot");
            fz_slot_register(st, i, slot, -1); /* the thread's reference */
            st->thread_slot = i;
        }
        ctxs_slot_retain(slot);
        st->slots[i].refs++;
        fz_slot_handle_set(st, dst, i);
        return FZ_DONE;
    }
    if (what == 1) {
        if (t >= 0) fz_slot_unref(st, t); /* first: it may unlend (fz_unlend) */
        ctxs_thread_slot_drop(st->store);
        st->thread_slot = -1;
        return FZ_DONE;
    }
    FZ_ASSERT(st, ctxs_thread_slot_peek(st->store) == (t >= 0 ? st->slots[t].slot : NULL),
              "ctxs_thread_slot_peek disagrees");
    return FZ_UNCHANGED;
}

/* ------------------------------------------------------------ interning */

/* Builds a name in name_buffer from the operands; returns its length. */
static size_t make_name(fz_state *st, fz_reader *r) {
    uint8_t kind = fz_next(r) % 5;
    const model_names *names = &st->names;
    if ((kind == 3 || kind == 4) && names->count == 0) kind = 0;
    switch (kind) {
    case 0: return 0;
    case 1: { /* short, straight from the input: NUL bytes included */
        size_t length = fz_next(r) % 24;
        for (size_t j = 0; j < length; j++) name_buffer[j] = fz_next(r);
        return length;
    }
    case 2: { /* long: a pattern with NUL bytes in it */
        size_t length = 200 + (size_t)fz_next(r) * 16 + fz_next(r);
        uint8_t seed = fz_next(r);
        for (size_t j = 0; j < length; j++)
            name_buffer[j] = (uint8_t)((seed + j * 7) % 251 * (j % 9 != 0));
        return length;
    }
    case 3: { /* a known name again */
        const model_name *n = &names->names[fz_next(r) % names->count];
        if (n->length > 0) memcpy(name_buffer, n->bytes, n->length);
        return n->length;
    }
    default: { /* a known name with one byte changed, or one more */
        const model_name *n = &names->names[fz_next(r) % names->count];
        size_t length = n->length;
        if (length > 0) memcpy(name_buffer, n->bytes, length);
        uint8_t at = fz_next(r), x = fz_next(r);
        if (length == 0 || length == FZ_NAME_MAX || (at & 1)) {
            if (length < FZ_NAME_MAX) name_buffer[length++] = x;
        } else {
            name_buffer[at % length] ^= (uint8_t)(x | 1);
        }
        return length;
    }
    }
}

static fz_outcome op_intern(fz_state *st, fz_reader *r) {
    size_t length = make_name(st, r);
    const void *bytes = length > 0 ? name_buffer : NULL;
    int known = model_name_find(&st->names, name_buffer, length);
    uint64_t found = 0;
    int present = ctxs_intern_find(st->store, bytes, length, &found);
    FZ_ASSERT(st, present == (known >= 0), "ctxs_intern_find says %d, model %d", present,
              known >= 0);
    FZ_ASSERT(st, !present || found == st->names.names[known].id, "ctxs_intern_find: wrong id");
    if (known < 0 && st->names.count == MODEL_NAMES) return FZ_SKIPPED;

    const uint64_t sentinel = 0x5e5e5e5e5e5e5e5eull;
    uint64_t id = sentinel;
    ctxs_statistics before;
    ctxs_store_statistics(st->store, &before);
    int status = ctxs_intern(st->store, bytes, length, &id);
    ctxs_statistics after;
    ctxs_store_statistics(st->store, &after);
    if (status != CTXS_OK) {
        FZ_ASSERT(st, known < 0, "interning a known name failed");
        FZ_ASSERT(st, id == sentinel, "failed ctxs_intern touched *id");
        FZ_ASSERT(st, ctxs_intern_find(st->store, bytes, length, &found) == 0,
                  "failed ctxs_intern interned the name");
        return fz_failed(st, status, "ctxs_intern");
    }
    /* Names take bytes for the life of the store (the teardown counts them). */
    st->name_bytes += after.bytes_in_use - before.bytes_in_use;
    if (known >= 0) {
        FZ_ASSERT(st, id == st->names.names[known].id, "a name changed its id");
        FZ_ASSERT(st, after.bytes_in_use == before.bytes_in_use,
                  "interning a known name took bytes: %zu->%zu", before.bytes_in_use,
                  after.bytes_in_use);
    } else {
        FZ_ASSERT(st, model_name_by_id(&st->names, id) < 0, "two names got the id %#llx",
                  (unsigned long long)id);
        FZ_ASSERT(st, model_name_add(&st->names, bytes, length, id), "fuzzer out of memory");
    }
    const void *back = NULL;
    size_t back_length = 0;
    FZ_ASSERT(st, ctxs_intern_name(st->store, id, &back, &back_length) == 1,
              "ctxs_intern_name does not know an interned id");
    FZ_ASSERT(st, back_length == length && (length == 0 || memcmp(back, name_buffer, length) == 0),
              "ctxs_intern_name gives other bytes (%zu, model %zu)", back_length, length);
    (void)model_key_add(&st->keys, id);
    return FZ_DONE;
}

/* ----------------------------------------------------------------- keys */

static void key_added(fz_state *st, uint64_t id) {
    (void)model_key_add(&st->keys, id);
    if (model_name_by_id(&st->names, id) < 0) {
        const void *bytes;
        size_t length;
        FZ_ASSERT(st, ctxs_intern_name(st->store, id, &bytes, &length) == 0,
                  "ctxs_intern_name knows %#llx, which was never handed out",
                  (unsigned long long)id);
    }
}

static fz_outcome op_key_raw(fz_state *st, fz_reader *r) {
    key_added(st, next64(r));
    return FZ_UNCHANGED;
}

/* A key that agrees with a known one on most bits: deep tries and long
 * one-child chains. */
static fz_outcome op_key_near(fz_state *st, fz_reader *r) {
    uint64_t base = st->keys.id[key_of(st, r)];
    uint8_t shift = fz_next(r) % 64, x = fz_next(r);
    key_added(st, base ^ ((uint64_t)(x | 1) << shift));
    return FZ_UNCHANGED;
}

/* ---------------------------------------------------- failure and misuse */

static fz_outcome op_fail_next(fz_state *st, fz_reader *r) {
    st->fail_next = 1 + fz_next(r) % 32;
    return FZ_UNCHANGED;
}

static fz_outcome op_verify(fz_state *st, fz_reader *r) {
    (void)r;
    /* Checks run with the hook off: a snapshot here must not fail. */
    ctxs_store_fail_allocation(st->store, 0);
    st->armed = false;
    fz_check_slots(st, true);
    fz_check_snapshots(st);
    return FZ_DONE;
}

/* Anything that keeps the store busy (the parked spare does not). */
static bool anything_live(const fz_state *st) {
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->slots[i].slot != NULL && i != st->spare) return true;
    for (int h = 0; h < FZ_HANDLES; h++)
        if (st->maps[h].map != NULL && model_count(&st->maps[h].model) > 0) return true;
    return false;
}

/* Calls that must be refused and change nothing. */
static fz_outcome op_invalid(fz_state *st, fz_reader *r) {
    uint8_t what = fz_next(r) % 5;
    int i = slot_operand(st, r);
    ctxs_slot *slot = i >= 0 ? st->slots[i].slot : NULL;
    uint64_t key = st->keys.id[key_of(st, r)];
    switch (what) {
    case 0: {
        ctxs_map *map = ctxs_map_new(st->store), *sentinel = (ctxs_map *)&state, *out = sentinel;
        FZ_ASSERT(st, ctxs_map_assoc(map, key, NULL, &out) == CTXS_EINVAL && out == sentinel,
                  "ctxs_map_assoc accepted a NULL value");
        ctxs_map_release(map);
        break;
    }
    case 1:
        if (slot == NULL) return FZ_SKIPPED;
        FZ_ASSERT(st, ctxs_slot_assoc(slot, key, NULL) == CTXS_EINVAL,
                  "ctxs_slot_assoc accepted a NULL value");
        break;
    case 2: {
        if (slot == NULL) return FZ_SKIPPED;
        ctxs_map *map = ctxs_map_new(st->store);
        FZ_ASSERT(st, ctxs_slot_create(st->store, map, slot) == NULL,
                  "a chained slot was made with an initial map");
        ctxs_map_release(map);
        break;
    }
    case 3: {
        if (slot == NULL) return FZ_SKIPPED;
        ctxs_store *other = ctxs_store_create(NULL);
        FZ_ASSERT(st, other != NULL, "a second store could not be made");
        ctxs_map *foreign = ctxs_map_new(other);
        ctxs_slot *foreign_slot = ctxs_slot_create(other, NULL, NULL);
        FZ_ASSERT(st, foreign_slot != NULL, "the second store made no slot");
        FZ_ASSERT(st, ctxs_slot_replace(slot, foreign) == CTXS_EINVAL,
                  "ctxs_slot_replace took another store's map");
        FZ_ASSERT(st, ctxs_slot_create(st->store, foreign, NULL) == NULL,
                  "a slot was made with another store's map");
        FZ_ASSERT(st, ctxs_slot_create(st->store, NULL, foreign_slot) == NULL,
                  "a slot was chained under another store's slot");
        ctxs_slot_release(foreign_slot);
        ctxs_map_release(foreign);
        FZ_ASSERT(st, ctxs_store_destroy(other) == CTXS_OK, "the second store is busy");
        break;
    }
    default:
        FZ_ASSERT(st, ctxs_store_destroy(NULL) == CTXS_OK, "ctxs_store_destroy(NULL) failed");
        if (!anything_live(st)) return FZ_SKIPPED;
        FZ_ASSERT(st, fz_store_destroy(st) == CTXS_EBUSY,
                  "ctxs_store_destroy did not refuse a store with live objects");
        break;
    }
    return FZ_UNCHANGED;
}

/* ------------------------------------------------------------- dispatch */

typedef struct operation {
    const char *name;
    fz_outcome (*run)(fz_state *st, fz_reader *r);
} operation;

/* Assocs appear twice: they are what grows tries and layers deep enough
 * for the other operations to be interesting. */
static const operation operations[] = {
    {"map_new", op_map_new},
    {"map_fork", op_map_fork},
    {"map_release", op_map_release},
    {"map_assoc", op_map_assoc},
    {"map_assoc", op_map_assoc},
    {"map_without", op_map_without},
    {"slot_plain", op_slot_plain},
    {"slot_chained", op_slot_chained},
    {"slot_retain", op_slot_retain},
    {"slot_release", op_slot_release},
    {"slot_assoc", op_slot_assoc},
    {"slot_assoc", op_slot_assoc},
    {"slot_without", op_slot_without},
    {"slot_clear", op_slot_clear},
    {"slot_replace", op_slot_replace},
    {"slot_snapshot", op_slot_snapshot},
    {"slot_read", op_slot_read},
    {"memo_set", op_memo_set},
    {"thread", op_thread},
    {"intern", op_intern},
    {"key_raw", op_key_raw},
    {"key_near", op_key_near},
    {"fail_next", op_fail_next},
    {"verify", op_verify},
    {"invalid", op_invalid},
    {"slot_adopt", fz_op_slot_adopt},
    {"slot_recycle", fz_op_slot_recycle},
    {"slot_reset", fz_op_slot_reset},
    {"spare_put", fz_op_spare_put},
    {"spare_take", fz_op_spare_take},
    {"spare_recycle", fz_op_spare_recycle},
    {"spare_take_borrowing", fz_op_spare_take_borrowing},
    {"lifecycle_invalid", fz_op_lifecycle_invalid},
    {"slot_copy", fz_op_slot_copy},
};
#define OPERATION_COUNT (sizeof operations / sizeof operations[0])

static void state_reset(fz_state *st) {
    memset(st, 0, sizeof *st);
    for (int h = 0; h < FZ_HANDLES; h++) {
        st->maps[h].snap_slot = -1;
        st->slot_handles[h] = -1;
    }
    st->thread_slot = -1;
    st->touched_slot = -1;
    st->spare = -1;
    /* Keys sharing fragments down to levels 0, 1 and 11. */
    static const uint64_t seeds[] = {1, 1 | 1u << 5, 1 | 1u << 10, 1 | 1ull << 63};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) model_key_add(&st->keys, seeds[i]);
}

static void check_all(fz_state *st, bool full) {
    fz_check_maps(st);
    fz_check_slots(st, full);
    fz_check_references(st);
}

/* Releases everything; then the store must be empty and destroy cleanly. */
static void teardown(fz_state *st) {
    if (anything_live(st)) {
        FZ_ASSERT(st, fz_store_destroy(st) == CTXS_EBUSY,
                  "ctxs_store_destroy did not refuse a store with live objects");
    }
    for (int h = 0; h < FZ_HANDLES; h++) {
        ctxs_map_release(st->maps[h].map);
        st->maps[h].map = NULL;
        if (st->slot_handles[h] >= 0) fz_slot_handle_set(st, (unsigned)h, -1);
    }
    if (st->thread_slot >= 0) fz_slot_unref(st, st->thread_slot);
    ctxs_thread_slot_drop(st->store);
    st->thread_slot = -1;
    FZ_ASSERT(st, !anything_live(st), "model: slots outlive every handle");

    ctxs_statistics stats;
    ctxs_store_statistics(st->store, &stats);
    FZ_ASSERT(st,
              stats.live_roots == 0 && stats.live_nodes == 0 && stats.live_values == 0 &&
                  stats.live_slots == 0,
              "after releasing everything: %zu maps, %zu nodes, %zu values, %zu slots live",
              stats.live_roots, stats.live_nodes, stats.live_values, stats.live_slots);
    /* Objects the thread's cache keeps, and a parked spare, are not in use. */
    FZ_ASSERT(st,
              stats.spare_slots == (st->spare >= 0 ? 1u : 0u) &&
                  stats.bytes_in_use == st->base_bytes + st->name_bytes,
              "after releasing everything: %zu spare slots (model %d), %zu bytes in use (a new "
              "store %zu, names %zu)",
              stats.spare_slots, st->spare >= 0, stats.bytes_in_use, st->base_bytes,
              st->name_bytes);
    for (unsigned id = 0; id < FZ_IDS; id++) {
        FZ_ASSERT(st, st->counts[id] == 0, "value %u: %lld references left after teardown", id,
                  (long long)st->counts[id]);
    }
    /* The destroy releases the parked spare, if any (fz_store_destroy checks). */
    FZ_ASSERT(st, fz_store_destroy(st) == CTXS_OK, "an emptied store is busy");
    st->store = NULL;
    model_names_reset(&st->names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fz_state *st = &state;
    state_reset(st);
    fz_reader r = {data, size};
    uint8_t head = fz_next(&r);
    static const ctxs_backend backends[] = {CTXS_BACKEND_ARENA, CTXS_BACKEND_MALLOC,
                                            CTXS_BACKEND_JEMALLOC};
    ctxs_backend backend = backends[head % 3];
    if (backend == CTXS_BACKEND_JEMALLOC && !ctxs_have_jemalloc()) backend = CTXS_BACKEND_ARENA;
    st->full_checks = (head >> 2) & 1;
    ctxs_store_options options = {count_retain, count_release, st, backend};
    st->store = ctxs_store_create(&options);
    FZ_ASSERT(st, st->store != NULL, "ctxs_store_create failed");
    FZ_ASSERT(st, ctxs_store_backend(st->store) == backend, "the store uses another backend");
    fz_lifecycle_start(st);

    while (r.n > 0 && st->operations < FZ_MAX_OPERATIONS) {
        st->operations++;
        const operation *op = &operations[fz_next(&r) % OPERATION_COUNT];
        st->touched_slot = -1;
        st->touched_key = -1;
        st->armed = st->fail_next != 0;
        if (st->armed) ctxs_store_fail_allocation(st->store, st->fail_next);
        st->fail_next = 0;
        fz_census before;
        fz_census_take(st, &before);
        fz_outcome result = op->run(st, &r);
        ctxs_store_fail_allocation(st->store, 0); /* unused failures must not leak into checks */
        st->armed = false;
        if (result == FZ_UNCHANGED) fz_census_same(st, &before, op->name);
        if (result != FZ_SKIPPED) check_all(st, st->full_checks);
    }
    check_all(st, true);
    fz_check_snapshots(st);
    fz_check_references(st);
    teardown(st);
    return 0;
}
