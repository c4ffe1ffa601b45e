/*
 * fuzz.h: the state shared by the fuzzer's operations (fuzz_core.c,
 * fuzz_lifecycle.c) and its checks (fuzz_check.c).
 *
 * One input drives one store. The fuzzer holds a few map handles and slot
 * handles, each paired with what the model (model.h) says it contains.
 * Values are the integers 1 .. FZ_IDS-1 cast to pointers; the store's
 * retain and release callbacks count them in `counts`, so the checks can
 * tell exactly how many references the store holds to each one.
 */
#ifndef CTXS_FUZZ_H
#define CTXS_FUZZ_H

#include "CContextStore.h"
#include "CContextStoreSPI.h"
#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FZ_HANDLES 8    /* map handles and slot handles, each */
#define FZ_SLOTS 80     /* slot objects alive at once (handles, their parents, the thread's) */
#define FZ_MAX_DEPTH 40 /* chain depth; > 16 takes merge()'s heap path */
#define FZ_VALUES 48    /* value ids 1 .. FZ_VALUES-1 */
#define FZ_MEMO_BASE 64 /* memo ids FZ_MEMO_BASE .. FZ_IDS-1 */
#define FZ_IDS 96

/* A map handle. `snap_*` remember which slot write produced it, if it is a
 * snapshot, so the memo check knows when ctxs_slot_memo_set must succeed. */
typedef struct fz_map {
    ctxs_map *map; /* +1, or NULL */
    model_contents model;
    int snap_slot;        /* slot object it is a snapshot of, or -1 */
    uint64_t snap_serial; /* that object's serial when the snapshot was taken */
    uint64_t snap_writes; /* and its write count */
} fz_map;

/* A slot object as the model sees it. It lives while any handle, chained
 * child or the thread holds it: exactly when the core's slot lives. */
typedef struct fz_slot {
    ctxs_slot *slot; /* NULL when this entry is free */
    int refs;        /* handles + children + the thread */
    int parent;      /* index of the parent object, or -1 for a plain slot */
    bool cleared;    /* chained: the layer hides everything inherited */
    size_t depth;
    model_contents layer; /* plain: the contents; chained: the layer */
    unsigned memo;        /* memo id the slot holds, or 0 */
    uint64_t writes;      /* successful writes */
    uint64_t serial;      /* distinguishes reuses of this entry */
    bool recycled;        /* emptied by ctxs_slot_recycle: only reset and release are valid */
    /* A plain slot keeps the contents it was made (or reset) with once it
     * has been written, until it is released or recycled (slot.c,
     * "Untouched slots"): */
    model_contents first; /* plain: those contents */
    bool touched;         /* plain: written since made or reset; chained: always */
    bool first_over;      /* plain: `first` may hold more than the first map does (a copy
                             made touched: see fz_op_slot_copy) */
    int lender;           /* object whose first map this slot borrows (taken by
                             ctxs_thread_spare_take_borrowing, until it owns it), or -1 */
} fz_slot;

typedef struct fz_state {
    ctxs_store *store;
    bool full_checks;       /* check every slot after every operation */
    bool armed;             /* the allocation-failure hook is set for this operation */
    unsigned fail_next;     /* arm the hook for the next operation: its n-th allocation fails */
    int64_t counts[FZ_IDS]; /* references the store holds (retains - releases) */
    model_keys keys;
    model_names names;
    bool names_full;
    fz_map maps[FZ_HANDLES];
    int slot_handles[FZ_HANDLES]; /* slot object index, or -1 */
    fz_slot slots[FZ_SLOTS];
    int thread_slot; /* object index of the thread's slot, or -1 */
    uint64_t serial;
    uint64_t operations;
    int touched_slot;  /* object of the last slot operation, for the light check */
    int touched_key;   /* pool index of its key, or -1 */
    int spare;         /* object parked as the thread's spare (held by the store), or -1 */
    bool spare_fused;  /* ctxs_thread_spare_recycle parked it, so its slot is known */
    bool destroying;   /* ctxs_store_destroy runs: it may release the spare */
    size_t slot_bytes; /* what one slot adds to bytes_in_use */
    size_t base_bytes; /* bytes_in_use of the fresh store */
    size_t name_bytes; /* what interned names add to it (modulo 2^64) */
} fz_state;

/* Prints the message and the operation number, then aborts: a finding. */
void fz_fail(const fz_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#define FZ_ASSERT(st, cond, ...)                 \
    do {                                         \
        if (!(cond)) fz_fail((st), __VA_ARGS__); \
    } while (0)

static inline void *fz_value(unsigned id) { return (void *)(uintptr_t)id; }
static inline unsigned fz_id(const void *value) { return (unsigned)(uintptr_t)value; }

/* ------------------------------------ shared by the operations' files */

/* The rest of the program: an operation reads its operands from it, and a
 * program that ends early reads zeros. */
typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

uint8_t fz_next(fz_reader *r);
unsigned fz_handle(fz_reader *r); /* a handle operand: 0 .. FZ_HANDLES-1 */

/* What an operation says it did. FZ_UNCHANGED: it failed or was invalid, and
 * promises that the store is exactly as before (checked). FZ_SKIPPED: its
 * operands did not fit the state, and it called nothing. */
typedef enum fz_outcome { FZ_DONE, FZ_UNCHANGED, FZ_SKIPPED } fz_outcome;

/* A failure status is only acceptable when the hook made it happen. */
fz_outcome fz_failed(fz_state *st, int status, const char *operation);

/* A free slot object index, or -1. */
int fz_slot_free_index(const fz_state *st);

/* Records at index i a slot the core just made (a chained one under object
 * `parent`, else -1); the caller holds its one reference. Returns i. */
int fz_slot_register(fz_state *st, int i, ctxs_slot *slot, int parent);

/* Drops one model reference to object i, and to its ancestors as they die. */
void fz_slot_unref(fz_state *st, int i);

/* Releases one reference to object i, in the core and in the model. */
void fz_slot_drop(fz_state *st, int i);

/* Handle h takes over a reference to object i (already counted), releasing
 * the one it held. */
void fz_slot_handle_set(fz_state *st, unsigned h, int i);

/* Names the slot (and key, or -1 for all) the light check re-reads. */
void fz_touch(fz_state *st, int slot, int key);

/* A successful write to object i: its memo goes, and older snapshots are stale. */
void fz_written(fz_state *st, int i);
/* After a plain slot was given its contents (made, adopted or reset): it
 * starts untouched, keeping them as its first contents. */
void fz_slot_started(fz_state *st, int i);

/* ------------------------------------------- fuzz_lifecycle.c */

/* Adopt, recycle, reset, and the thread's spare (put and take). */
fz_outcome fz_op_slot_adopt(fz_state *st, fz_reader *r);
fz_outcome fz_op_slot_recycle(fz_state *st, fz_reader *r);
fz_outcome fz_op_slot_reset(fz_state *st, fz_reader *r);
fz_outcome fz_op_spare_put(fz_state *st, fz_reader *r);
fz_outcome fz_op_spare_take(fz_state *st, fz_reader *r);
/* The Swift layer's fused calls: ctxs_thread_spare_recycle and
 * ctxs_thread_spare_take_borrowing. */
fz_outcome fz_op_spare_recycle(fz_state *st, fz_reader *r);
fz_outcome fz_op_spare_take_borrowing(fz_state *st, fz_reader *r);
/* ctxs_slot_copy (`.copy` scopes), into a new slot or a recycled one. */
fz_outcome fz_op_slot_copy(fz_state *st, fz_reader *r);
/* Every slot that borrows object i's first map takes a reference of its
 * own (ctxs_slot_own_base), as the Swift layer makes sure of before a
 * lender ends: called before object i is released for good or recycled. */
void fz_unlend(fz_state *st, int i);
/* Lifecycle calls that must be refused and take nothing. */
fz_outcome fz_op_lifecycle_invalid(fz_state *st, fz_reader *r);

/* Measures a new store: its bytes_in_use and what one slot adds to it (a
 * slot made and released must leave every counter as it was). */
void fz_lifecycle_start(fz_state *st);

/* The store's release callback hands every object here first: returns
 * true if it was the parked spare, which it releases (that is only
 * allowed while ctxs_store_destroy runs). */
bool fz_spare_release(fz_state *st, void *object);

/* ctxs_store_destroy(st->store), which must release the parked spare
 * whatever it returns. */
int fz_store_destroy(fz_state *st);

/* The effective contents of slot object `i`: its layers over its ancestors. */
void fz_slot_contents(const fz_state *st, int i, model_contents *out);

/* Counters a failed operation must leave as they were. */
typedef struct fz_census {
    ctxs_statistics stats;
    int64_t counts[FZ_IDS];
} fz_census;

void fz_census_take(const fz_state *st, fz_census *out);

/* Aborts unless `before` and the store's state now agree. */
void fz_census_same(const fz_state *st, const fz_census *before, const char *operation);

/* Every map handle against its model: count, lookups, iteration, trie
 * invariants, and canonical shape (equal contents, equal tries). */
void fz_check_maps(fz_state *st);

/* Reads every pool key through every slot handle (full) or the last
 * operation's key through its slot (light), and compares. */
void fz_check_slots(fz_state *st, bool full);

/* Reads pool key k through slot object i: style 0 ctxs_slot_find with a
 * value, 1 without, 2 ctxs_slot_read_begin / _end. */
void fz_check_slot_key(fz_state *st, int i, unsigned k, unsigned style);

/* Also snapshots every slot handle and compares the whole map. */
void fz_check_snapshots(fz_state *st);

/* The value callbacks against the model: references per value and memo,
 * live slots, interned names. */
void fz_check_references(fz_state *st);

#endif /* CTXS_FUZZ_H */
