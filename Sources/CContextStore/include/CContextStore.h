/*
 * CContextStore: the C core of ContextStore.
 *
 * A store owns an allocator (arena, jemalloc or malloc), a key-interning
 * table and statistics. Inside it live three kinds of object:
 *
 *   ctxs_map   an immutable, refcounted persistent map from 64-bit key ids to
 *              opaque non-NULL values (a CHAMP-style hash array mapped trie).
 *              Every "write" returns a new map; an existing map never changes.
 *   ctxs_slot  a mutable, lock-protected cell holding the current map of one
 *              context scope, optionally chained over a parent slot.
 *   key ids    stable 64-bit ids handed out by interning a name (any bytes).
 *
 * Every exported symbol starts with `ctxs_` / `CTXS_`.
 *
 * Headers. This one is the API: everything a C caller may use, each with
 * its contract. Beside it, CContextStoreSPI.h holds what only
 * ContextStore's own Swift layer and tests use (the allocation-failure
 * hook, the trie checker, the Swift layer's globals and name cache); it is
 * not API and may change in any release. A C caller that includes only
 * this header sees none of it. The module map (include/module.modulemap)
 * makes the same split for Swift: module CContextStore is this header,
 * and module CContextStoreSPI is the other, which only a file that says
 * `import CContextStoreSPI` sees. (A separate module rather than an
 * explicit submodule: Swift finds a loaded submodule's declarations
 * through an import of its parent, so any client importing CContextStore
 * next to ContextStore, which loads the SPI, would have seen them.)
 *
 * Nullability. Every pointer in this header is non-NULL unless marked
 * _Nullable (clang's assume_nonnull, between CTXS_ASSUME_NONNULL_BEGIN and
 * _END; other compilers see no annotation). An out-parameter is
 * `T *_Nullable *_Nonnull`, or `T *_Nullable *_Nullable` where the caller
 * may pass NULL: the caller's variable may hold NULL before the call, and
 * the contract says what the call stores in it.
 *
 * Ownership rules, used in every contract below:
 *   "+1"        the caller receives a reference it must release exactly once.
 *   "borrowed"  valid only while the caller holds a reference to the object
 *               it came from; the caller must not release it.
 *
 * Value callbacks (ctxs_store_options.retain and .release). Values are
 * opaque non-NULL pointers the store never looks into. The store calls
 * options.retain once when an entry for a value is created, and
 * options.release once when the last map holding that entry is freed.
 * Slot reads that hand a value out (ctxs_slot_find) and ctxs_slot_memo_get
 * call options.retain for the caller, who then owns that reference; the
 * memo functions retain and release the memo with the same callbacks.
 * Either callback may run on any thread, concurrently with itself and the
 * other, and is called only with a non-NULL value.
 *   options.retain may run under a slot's lock: a slot write that makes
 *   an entry (ctxs_slot_assoc) makes it under the lock, a slot read
 *   retains the value it hands out before the lock is dropped (a writer
 *   may free the entry right after), and the memo functions retain under
 *   it. Every other reader and writer of that slot spins meanwhile. So
 *   retain must not block and must not call any function of the store
 *   (the lock is not recursive): a reference count increment is what it
 *   is for.
 *   options.release never runs under a lock of the store. It runs on the
 *   thread of whichever call drops the last reference to an entry or a
 *   memo, after that call has dropped its locks: ctxs_map_release and
 *   ctxs_slot_release, and also slot writes, ctxs_slot_recycle,
 *   ctxs_slot_memo_replace, reads of a chained slot (a rebuilt view may
 *   hold the last reference to an entry a writer has since replaced) and
 *   ctxs_thread_slot_drop; or on a thread that exits with a thread slot
 *   or a spare; or in ctxs_store_destroy (spares). So release may
 *   re-enter the store (a value's destructor may set a context), except
 *   that while it runs the calling thread's own slot is hidden (see
 *   "thread slots" below).
 *
 * Thread safety: every function may be called from any thread at any time,
 * except ctxs_store_destroy, which needs every object of the store released.
 *
 * Layers (Sources/CContextStore), top to bottom. Each file calls only the
 * layers below it, and includes only their private headers, so the
 * #include lines of the private headers draw the call graph:
 *
 *   store.c      the store's lifecycle, statistics, and the entry points
 *                that take a ctxs_store (store.h)
 *   thread.c     each thread's own slot and spare (thread.h)
 *   slot.c       scope slots: locks, chains, views (slot.h)
 *   hamt.c       the trie, with hamt_iter.c (iteration) and hamt_debug.c
 *                (the checker); beside it, not calling it, intern.c (key
 *                interning); hamt.h and intern.h
 *   alloc.c      the allocation front: failure hook, value callbacks (alloc.h)
 *   arena.c      the allocator backends (arena.h), under the spin lock (lock.h)
 */
#ifndef CCONTEXTSTORE_H
#define CCONTEXTSTORE_H

#include <stddef.h>
#include <stdint.h>

/* Nullability: clang checks and Swift imports the annotations; for any other
 * compiler they mean nothing and are defined away. */
#if defined(__clang__)
#define CTXS_ASSUME_NONNULL_BEGIN _Pragma("clang assume_nonnull begin")
#define CTXS_ASSUME_NONNULL_END _Pragma("clang assume_nonnull end")
#else
#define CTXS_ASSUME_NONNULL_BEGIN
#define CTXS_ASSUME_NONNULL_END
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Nonnull
#define _Nonnull
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

CTXS_ASSUME_NONNULL_BEGIN

/* ---------------------------------------------------------------- status */

/* Return codes of the fallible functions. Lookups return 1 / 0 instead. */
typedef enum ctxs_status {
    CTXS_OK = 0,      /* done */
    CTXS_ENOMEM = -1, /* an allocation failed; nothing was changed */
    CTXS_EINVAL = -2, /* a bad argument (NULL value, foreign object); nothing was changed */
    CTXS_EBUSY = -3   /* the store still has live objects; nothing was changed */
} ctxs_status;

/* A short, static, human-readable name for a status ("out of memory", ...). */
const char *ctxs_status_string(int status);

/* ------------------------------------------------------------------ store */

typedef struct ctxs_store ctxs_store;
typedef struct ctxs_map ctxs_map;
typedef struct ctxs_slot ctxs_slot;

/* Value callbacks (see "Value callbacks" above for when they run and what
 * they may do). `context` is options.context, passed through untouched;
 * `value` is never NULL. */
typedef void (*ctxs_value_fn)(void *_Nullable context, void *value);

/* Where the store's nodes, leaves, maps and slots come from. */
typedef enum ctxs_backend {
    CTXS_BACKEND_DEFAULT = 0, /* the build's default: the arena unless built otherwise */
    CTXS_BACKEND_ARENA = 1,   /* size-class pools carved from 64 KiB chunks */
    CTXS_BACKEND_MALLOC = 2,  /* one malloc/free per object */
    CTXS_BACKEND_JEMALLOC = 3 /* mallocx/sdallocx on a dedicated jemalloc arena;
                                 only when built with CTXS_WITH_JEMALLOC */
} ctxs_backend;

/* Options for ctxs_store_create. A zeroed struct means the sensible default:
 * no value callbacks (values are not owned) and the default backend. */
typedef struct ctxs_store_options {
    ctxs_value_fn _Nullable retain;  /* called once per entry created, and for each value a
                                        read hands out; may be NULL; may run under a slot's
                                        lock, so it must not call the store */
    ctxs_value_fn _Nullable release; /* called once per entry freed; may be NULL; runs with no
                                        lock of the store held, so it may call the store */
    void *_Nullable context;         /* passed to retain and release */
    ctxs_backend backend;            /* allocator backend */
} ctxs_store_options;

/* Creates a store. `options` may be NULL (all defaults).
 * Returns the store, owned by the caller (free it with ctxs_store_destroy),
 * or NULL when an allocation fails or the backend is not built in. */
ctxs_store *_Nullable ctxs_store_create(const ctxs_store_options *_Nullable options);

/* Frees the store, its arena and its interned names. It first releases
 * every thread's spare object (ctxs_thread_spare_put) with options.release;
 * no thread that parked one may exit while this runs.
 * Returns CTXS_OK, or CTXS_EBUSY (and frees nothing else; the store stays
 * usable) while any map or slot of the store is still live. NULL is
 * accepted and returns CTXS_OK. */
int ctxs_store_destroy(ctxs_store *_Nullable store);

/* The backend the store actually uses (never CTXS_BACKEND_DEFAULT). */
ctxs_backend ctxs_store_backend(const ctxs_store *store);

/* Whether this build has the jemalloc backend: 1 or 0. */
int ctxs_have_jemalloc(void);

/* Counters, all exact at the moment they are read. */
typedef struct ctxs_statistics {
    size_t live_roots;  /* maps (ctxs_map objects) not yet freed, the store's empty map excluded */
    size_t live_nodes;  /* trie nodes */
    size_t live_values; /* entries, that is values the store holds a reference to */
    size_t live_slots;  /* slots in use (spare_slots excluded) */
    size_t interned_keys;  /* names interned so far (they live as long as the store) */
    size_t bytes_in_use;   /* bytes of live objects, in allocator-size units (spare
                              slots excluded) */
    size_t bytes_reserved; /* bytes taken from the system: arena chunks, or
                              bytes_in_use for the malloc and jemalloc backends */
    size_t spare_slots;    /* objects parked by ctxs_thread_spare_put (or the Swift
                              layer's ctxs_thread_spare_recycle), each taken to own one
                              recycled slot (as the Swift layer's scope objects do) */
} ctxs_statistics;

/* Fills *out with the store's counters. */
void ctxs_store_statistics(ctxs_store *store, ctxs_statistics *out);

/* ---------------------------------------------------------------- interning */

/* Interns the name `bytes[0..length)` (any bytes, NUL allowed, length 0
 * allowed; bytes may be NULL when length is 0) and stores its id in *id.
 * The same name always gives the same id for the life of the store; distinct
 * names give distinct ids, never 0. The trie uses ids directly as hashes,
 * and any 32 names interned one after another sit apart in a map's first
 * level (hamt.c, "Hashing"). Ids are small for the first names, so a C
 * caller that puts keys of its own in a map must not mix them with
 * interned ids (two equal keys are one entry).
 * Returns CTXS_OK, or CTXS_ENOMEM (nothing interned, *id untouched). */
int ctxs_intern(ctxs_store *store, const void *_Nullable bytes, size_t length, uint64_t *id);

/* Looks the name up without interning it (`bytes` as for ctxs_intern).
 * Returns 1 and sets *id if the name was interned, 0 otherwise. */
int ctxs_intern_find(ctxs_store *store, const void *_Nullable bytes, size_t length, uint64_t *id);

/* The name of an interned id.
 * Returns 1 and sets *bytes (borrowed from the store: valid until the store
 * is destroyed) and *length, or 0 if `id` was not handed out by this store. */
int ctxs_intern_name(ctxs_store *store, uint64_t id, const void *_Nullable *_Nonnull bytes,
                     size_t *length);

/* -------------------------------------------------------------------- maps */

/* The empty map of `store`. Returns +1 (never fails: it is preallocated). */
ctxs_map *ctxs_map_new(ctxs_store *store);

/* O(1) fork: retains `map` and returns it (+1). Allocates nothing. */
ctxs_map *ctxs_map_fork(ctxs_map *map);

/* Releases one reference. When the last goes, the map's nodes are freed and
 * every entry only it held is freed, calling options.release on its value.
 * NULL is ignored. */
void ctxs_map_release(ctxs_map *_Nullable map);

/* The store a map belongs to (borrowed). */
ctxs_store *ctxs_map_store(const ctxs_map *map);

/* Number of entries. O(1). */
size_t ctxs_map_count(const ctxs_map *map);

/* Returns 1 and sets *value (borrowed from `map`) if `key` is present, 0 if
 * not. `value` may be NULL to test membership only. Never allocates. */
int ctxs_map_find(const ctxs_map *map, uint64_t key, void *_Nullable *_Nullable value);

/* Persistent insert or replace. On CTXS_OK, *out is a new +1 map holding
 * key -> value (value retained once, by the new entry) and `map` is unchanged.
 * If key already maps to the very same value pointer, *out is `map` retained.
 * Returns CTXS_OK, CTXS_EINVAL (value is NULL), or CTXS_ENOMEM; on error *out
 * is untouched and nothing is retained. */
int ctxs_map_assoc(ctxs_map *map, uint64_t key, void *_Nullable value,
                   ctxs_map *_Nullable *_Nonnull out);

/* Persistent remove. On CTXS_OK, *out is a +1 map without `key` (`map`
 * retained if the key was absent) and `map` is unchanged. Removal keeps the
 * trie canonical. Returns CTXS_OK or CTXS_ENOMEM (*out untouched). */
int ctxs_map_without(ctxs_map *map, uint64_t key, ctxs_map *_Nullable *_Nonnull out);

/* Trie geometry: each level takes CTXS_TRIE_BITS bits of a key, so a node
 * has CTXS_TRIE_FANOUT fragments, and a path from the root holds at most
 * CTXS_TRIE_LEVELS nodes (ceil(64 / 5): the last level has 4 bits). */
#define CTXS_TRIE_BITS 5u
#define CTXS_TRIE_FANOUT 32u
#define CTXS_TRIE_LEVELS 13u

/* Iteration in trie order. The iterator borrows `map`: keep a reference to
 * the map while iterating. No allocation. */
typedef struct ctxs_map_iter {
    const void *_Nullable nodes[CTXS_TRIE_LEVELS]; /* the path from the root, one node per level */
    uint8_t positions[CTXS_TRIE_LEVELS];           /* the next slot to visit at each level */
    int depth;                                     /* index of the current level, -1 when done */
} ctxs_map_iter;

void ctxs_map_iter_init(ctxs_map_iter *iter, const ctxs_map *map);

/* Returns 1 and sets *key and *value (borrowed) for the next entry, or 0 when
 * there is none left. key and value may be NULL. */
int ctxs_map_iter_next(ctxs_map_iter *iter, uint64_t *_Nullable key,
                       void *_Nullable *_Nullable value);

/* ------------------------------------------------------------------- slots */

/* Creates a slot.
 * - parent == NULL: a plain slot whose current map is `initial` (retained by
 *   the slot; NULL means the empty map).
 * - parent != NULL: a chained slot, a layer over the live parent. Reads that
 *   miss the layer fall through to the parent; `initial` must be NULL.
 *   The slot retains the parent.
 * A plain slot keeps the map it starts with until it is released (or
 * recycled), even after writes have replaced it: until its first write a
 * snapshot of it takes no lock.
 * Returns a +1 slot (release with ctxs_slot_release), or NULL when an
 * allocation fails or the arguments are invalid (nothing is retained). */
ctxs_slot *_Nullable ctxs_slot_create(ctxs_store *store, ctxs_map *_Nullable initial,
                                      ctxs_slot *_Nullable parent);

/* Creates a plain slot whose current map is `map`, taking over the caller's
 * reference to it (+1 in): ctxs_slot_create(store, map, NULL) without the
 * fork and release of `map` that the caller would otherwise pair up.
 * Returns a +1 slot, or NULL (and `map` is not taken) when an allocation
 * fails or `map` is NULL or of another store. */
ctxs_slot *_Nullable ctxs_slot_adopt(ctxs_store *store, ctxs_map *_Nullable map);

/* Retains the slot and returns it (+1). The caller must hold a reference
 * already (or borrow one that cannot go away meanwhile): a release that
 * sees the count at 1 frees the slot without a locked decrement. */
ctxs_slot *ctxs_slot_retain(ctxs_slot *slot);

/* Releases one reference; the last one releases the slot's map and parent.
 * NULL is ignored. */
void ctxs_slot_release(ctxs_slot *_Nullable slot);

/* The slot's parent (borrowed), or NULL for a plain slot. */
ctxs_slot *_Nullable ctxs_slot_parent(const ctxs_slot *slot);

/* Chain length: 0 for a plain slot, parent's depth + 1 for a chained one. */
size_t ctxs_slot_depth(const ctxs_slot *slot);

/* Reads `key` through the slot (and its parents, for a chained slot).
 * A chained slot answers from a cached merged view of its chain while no
 * slot of the chain has been written since the view was built; otherwise it
 * walks the layers, and rebuilds the view once those walks have cost as
 * much as the last rebuild. The view shares the layers' entries (no value
 * callback runs) and is dropped by the slot's next write or its release, so
 * it may keep a value the parent has since replaced alive until then.
 * Returns 1 and sets *value (+1: options.retain was called for the caller)
 * if present, 0 if absent or hidden by a removal or clear in a chained layer.
 * `value` may be NULL to test presence (nothing is retained then). */
int ctxs_slot_find(ctxs_slot *slot, uint64_t key, void *_Nullable *_Nullable value);

/* Borrowed read: like ctxs_slot_find, but instead of retaining the value
 * it leaves the lock of the slot that holds it (*held) taken, so the caller
 * can copy what it needs out of the value and then call
 * ctxs_slot_read_end(*held). Between the two it must not call any function
 * of the store, and should do nothing slow: writers of that slot wait.
 * Returns 1 (*value borrowed, valid until ctxs_slot_read_end; *held locked)
 * or 0 (absent or hidden; no lock is held). Never allocates. */
int ctxs_slot_read_begin(ctxs_slot *slot, uint64_t key, void *_Nullable *_Nonnull value,
                         ctxs_slot *_Nullable *_Nonnull held);

/* Ends a borrowed read: releases the lock ctxs_slot_read_begin left taken
 * (nothing when `held` is NULL). */
void ctxs_slot_read_end(ctxs_slot *_Nullable held);

/* The memo: one object the owner attaches to a plain slot's current
 * contents, such as the wrapper it made for a snapshot, so that the next
 * snapshot can reuse it. Every write to the slot drops it (options.release,
 * outside the lock).
 *
 * ctxs_slot_memo_get returns 1 and sets *memo (+1: options.retain was
 * called for the caller) if the slot has one, else 0.
 * ctxs_slot_memo_set stores `memo` (retained) if the slot is plain, has no
 * memo, and its contents are still `map` (a map returned by
 * ctxs_slot_snapshot); returns 1 if stored, else 0 (nothing retained; also
 * for a NULL memo). */
int ctxs_slot_memo_get(ctxs_slot *slot, void *_Nullable *_Nonnull memo);
int ctxs_slot_memo_set(ctxs_slot *slot, const ctxs_map *map, void *_Nullable memo);

/* Replaces the memo with `memo` (retained) if it is still `expected`: the
 * owner's way to swap in a richer object for the same contents. Returns 1
 * if replaced (`expected` then has options.release called for the slot's
 * reference, outside the lock), else 0 (nothing retained or released;
 * also for a NULL argument). */
int ctxs_slot_memo_replace(ctxs_slot *slot, void *_Nullable expected, void *_Nullable memo);

/* Sets key -> value in the slot (in its own layer, for a chained slot).
 * Atomic with respect to every other slot operation: no update is lost.
 * Returns CTXS_OK, CTXS_EINVAL (value NULL) or CTXS_ENOMEM (slot unchanged). */
int ctxs_slot_assoc(ctxs_slot *slot, uint64_t key, void *_Nullable value);

/* Removes key. In a chained slot the removal hides an inherited entry too.
 * Returns CTXS_OK or CTXS_ENOMEM (slot unchanged). */
int ctxs_slot_without(ctxs_slot *slot, uint64_t key);

/* Removes every key. In a chained slot it also hides everything inherited.
 * Returns CTXS_OK (it never allocates). */
int ctxs_slot_clear(ctxs_slot *slot);

/* Empties a plain slot that only the caller holds, so that its memory can
 * serve a new scope: its map and memo are released now (options.release
 * may run), and it forgets its lineage. It takes no lock. Returns 1 when
 * done; the slot then has no map, and the only valid calls on it are
 * ctxs_slot_reset and ctxs_slot_release. Returns 0 and changes nothing when
 * the slot is chained, has another holder (a chained child, or a retain
 * elsewhere), is recycled already, or is between ctxs_slot_read_begin and
 * ctxs_slot_read_end (a caller error). The caller must also know that no
 * other thread is still using a borrowed pointer to it. */
int ctxs_slot_recycle(ctxs_slot *slot);

/* Gives a recycled slot the contents `map` (not NULL), taking over the
 * caller's reference to it (+1 in, nothing to release). The slot is then like one
 * fresh from ctxs_slot_create(store, map, NULL). Returns CTXS_OK, or
 * CTXS_EINVAL (nothing taken) when the slot was not recycled or `map`
 * belongs to another store. */
int ctxs_slot_reset(ctxs_slot *slot, ctxs_map *map);

/* The slot's effective contents as a plain map, in *out (+1). O(1) for a
 * plain slot; for a chained slot it merges the layers, O(layer entries).
 * Returns CTXS_OK or CTXS_ENOMEM (*out untouched). */
int ctxs_slot_snapshot(ctxs_slot *slot, ctxs_map *_Nullable *_Nonnull out);

/* Replaces the slot's contents with `map` (retained by the slot). In a
 * chained slot the map becomes the layer and hides everything inherited, so
 * a later snapshot equals `map`. Returns CTXS_OK or CTXS_EINVAL (a map of
 * another store). */
int ctxs_slot_replace(ctxs_slot *slot, ctxs_map *map);

/* --------------------------------------------------------- thread slots */

/* While a release callback (options.release) runs, the calling thread's
 * own slot is hidden: ctxs_thread_slot returns NULL and makes none, and
 * ctxs_thread_slot_peek returns NULL. A value is often freed by code that
 * does not own it (a task's teardown on an executor thread, a thread's
 * exit); its destructor must not write into that thread's context, where
 * an unrelated destructor run later on the same thread would read it. */

/* The calling thread's own plain slot in `store`, made on first use.
 * Returns it borrowed (the thread owns it; it is released when the thread
 * exits, or by ctxs_thread_slot_drop), or NULL when an allocation fails or
 * a release callback is running on this thread (ctxs_thread_in_release). */
ctxs_slot *_Nullable ctxs_thread_slot(ctxs_store *store);

/* The calling thread's slot if it has one (borrowed), else NULL; NULL too
 * while a release callback runs on this thread. Never allocates. */
ctxs_slot *_Nullable ctxs_thread_slot_peek(ctxs_store *store);

/* 1 while a release callback of any store runs on the calling thread, else 0. */
int ctxs_thread_in_release(void);

/* Releases the calling thread's slot now, if it has one. A store can only
 * be destroyed once every thread's slot is gone. */
void ctxs_thread_slot_drop(ctxs_store *store);

/* ---------------------------------------------------------------- spares */

/* Each thread may park one object of the owner's in the store between
 * uses, to reuse it instead of allocating (the Swift layer parks an emptied
 * scope object, see ctxs_slot_recycle). A parked object must own exactly
 * one recycled slot of the store and nothing else of it (statistics count
 * it as one spare slot, and releasing it must free that slot). Only the
 * parking thread can take it back. When the thread exits, or the store is
 * destroyed, a parked object is released with options.release.
 *
 * ctxs_thread_spare_put parks `object` (the caller's reference moves to the
 * store) and returns 1, or returns 0 and takes nothing when this thread has
 * a spare already, `object` is NULL, the store has no options.release, or
 * an allocation fails.
 * ctxs_thread_spare_take returns this thread's spare (the reference moves
 * to the caller) and leaves none, or returns NULL. Neither takes a lock
 * after a thread's first put. */
int ctxs_thread_spare_put(ctxs_store *store, void *_Nullable object);
void *_Nullable ctxs_thread_spare_take(ctxs_store *store);

CTXS_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* CCONTEXTSTORE_H */
