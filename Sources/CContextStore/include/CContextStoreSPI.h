/*
 * CContextStoreSPI.h: NOT API. For ContextStore's own Swift layer and
 * tests only; anything here may change or go in any release.
 *
 * CContextStore.h is the API a C caller uses. This header holds what the
 * package itself needs beyond it and no caller should build on: the test
 * hooks (failing an allocation on purpose, counting allocations), the
 * trie's checker and shape introspection, and the Swift layer's plumbing
 * (the globals it publishes once and reads on hot paths, and its name
 * cache keyed by a String's own bits). Swift reaches it as the module
 * CContextStoreSPI (include/module.modulemap), a module of its own that
 * `import CContextStore` does not bring in: a file that uses it says
 * `import CContextStoreSPI`. C files include it by name, as the core's
 * store.c and hamt_debug.c, the C harness (Tests/C) and the fuzzer
 * (Tests/Fuzz) do.
 *
 * Nullability as in CContextStore.h: non-NULL unless marked _Nullable.
 */
#ifndef CCONTEXTSTORE_SPI_H
#define CCONTEXTSTORE_SPI_H

#include "CContextStore.h"

#include <stdatomic.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

CTXS_ASSUME_NONNULL_BEGIN

/* ------------------------------------------------------------ test hooks */

/* The `n`th allocation from now fails (n = 1: the next one) and every later
 * one succeeds again. n = 0 disarms the hook. Allocations that fail this way
 * return CTXS_ENOMEM exactly like a real failure. For single-threaded tests:
 * under concurrency the count may miss allocations. */
void ctxs_store_fail_allocation(ctxs_store *store, uint64_t n);

/* How many allocations the store has attempted so far (counting failed
 * ones): lets a test find every allocation point of an operation. */
uint64_t ctxs_store_allocation_count(ctxs_store *store);

/* ---------------------------------------------------- the trie's checker */

/* Shape introspection and the invariant checker, for tests and debugging.
 * Defined only in builds with CTXS_CHECK_INVARIANTS (hamt_debug.c), which
 * also check every map of up to 1,024 entries that a write makes. The
 * package's debug builds, the C harness and the fuzzer define it; release
 * builds have neither the functions nor the per-write check. */

/* Number of trie nodes reachable from `map`. */
size_t ctxs_map_node_count(const ctxs_map *map);

/* Deepest trie level holding an entry (0 for the root node; -1 if empty). */
int ctxs_map_depth(const ctxs_map *map);

/* Returns 1 if both maps have the same trie shape (bitmaps, key placement)
 * and the same value at every key, 0 otherwise. */
int ctxs_map_same_shape(const ctxs_map *a, const ctxs_map *b);

/* Checks every structural invariant of the trie (canonical form, bitmaps,
 * key prefixes, counts, refcounts > 0). Returns 1 if all hold, 0 if not. */
int ctxs_map_check(const ctxs_map *map);

/* ------------------------------------------------------- the Swift layer */

/* Small lossy caches in front of ctxs_intern_find, for callers that can
 * name a name by two words more cheaply than by its bytes (the Swift layer
 * keys a String by its own bits). None allocates or takes a lock, and *id
 * is untouched on a miss.
 *
 * ctxs_intern_cache_find and _put are for keys that stand for one name for
 * good (a small or immortal String's words): the caller promises that, and
 * puts only ids this store handed out for that name. find returns 1 and
 * sets *id on a hit, else 0; put remembers key -> id, unless another
 * thread is writing the same entry.
 *
 * ctxs_intern_cache_find_checked and _put_checked are for keys that may
 * come to stand for other bytes (a heap String's words: its storage's
 * address is reused once it is freed, and a String edited in place keeps
 * it). put_checked remembers key -> the name interned as `id` (nothing if
 * `id` is none of this store's). find_checked hits only if that name's
 * bytes are exactly `bytes` (borrowed, `length` of them): it returns 1 and
 * sets *id to the name's id, else 0. So a hit is always the id of the
 * bytes passed; the Swift layer passes a String's own UTF-8, and puts
 * only ids of names it interned by their NFC bytes, which are a String's
 * own bytes only when the String is in NFC. */
int ctxs_intern_cache_find(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t *id);
void ctxs_intern_cache_put(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t id);
int ctxs_intern_cache_find_checked(ctxs_store *store, uint64_t key0, uint64_t key1,
                                   const void *_Nullable bytes, size_t length, uint64_t *id);
void ctxs_intern_cache_put_checked(ctxs_store *store, uint64_t key0, uint64_t key1, uint64_t id);

/* One entry of those caches (intern.c, "key cache"): a seqlock. Its layout
 * and its read are here, not in intern.h, so that the Swift layer's probe
 * of the first cache (ctxs_swift_key_cache_find) is inline: through
 * ctxs_intern_cache_find, the call, its wrapper and the id passed back
 * through memory cost about 50 instructions of a read by name's 419
 * (callgrind, `get-name`). */
typedef struct ctxs_key_cache_entry {
    _Atomic uint64_t version; /* even: stable; odd: a writer is filling the entry */
    _Atomic uint64_t key0;    /* the caller's key, word 0 */
    _Atomic uint64_t key1;    /* word 1 */
    _Atomic uint64_t value;   /* the id (cache) or the name's address (checked); 0: empty */
} ctxs_key_cache_entry;

#define CTXS_KEY_CACHE_ENTRIES 256u /* entries of the first cache; a power of two */

/* Spreads a key over a table's entries (its top byte; tables have at most
 * 256). */
static inline size_t ctxs_key_cache_index(uint64_t key0, uint64_t key1) {
    uint64_t h = (key0 * UINT64_C(0x9e3779b97f4a7c15) ^ key1) * UINT64_C(0xbf58476d1ce4e5b9);
    return (size_t)(h >> 56);
}

/* The value `e` holds for exactly (key0, key1), read consistently; 0 if it
 * holds another key, is empty, or is being written. */
static inline uint64_t ctxs_key_cache_read(ctxs_key_cache_entry *e, uint64_t key0, uint64_t key1) {
    uint64_t before = atomic_load_explicit(&e->version, memory_order_acquire);
    uint64_t k0 = atomic_load_explicit(&e->key0, memory_order_relaxed);
    uint64_t k1 = atomic_load_explicit(&e->key1, memory_order_relaxed);
    uint64_t value = atomic_load_explicit(&e->value, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    uint64_t after = atomic_load_explicit(&e->version, memory_order_relaxed);
    if ((before & 1) != 0 || before != after || k0 != key0 || k1 != key1) return 0;
    return value;
}

/* The store's first cache (CTXS_KEY_CACHE_ENTRIES entries, the table of
 * ctxs_intern_cache_find), which lives as long as the store. */
ctxs_key_cache_entry *ctxs_intern_cache_table(ctxs_store *store);

/* How many new keys a plain slot keeps pending (written, not yet in its
 * map; see slot.c): a scope's first writes allocate nothing. */
#define CTXS_SLOT_PENDING 4

/* ctxs_slot_copy: for the Swift layer's `.copy` scopes, a plain slot
 * holding what `from` holds now, with its pending entries copied rather
 * than moved into a map first (each value retained once more). Made in
 * `recycled` (a slot ctxs_slot_recycle emptied; reset here) when given,
 * else a new slot. Returns the slot (+1 when new; `recycled` keeps the
 * caller's reference), or NULL when out of memory (nothing changed). */
ctxs_slot *_Nullable ctxs_slot_copy(ctxs_store *store, ctxs_slot *from,
                                    ctxs_slot *_Nullable recycled);

/* Borrowed maps, for a scope nested in another that outlives it (the
 * Swift layer's `run(inheriting: .copy)`): the new scope starts from the
 * enclosing scope's map without counting a reference to it.
 *
 * ctxs_slot_borrow_base: if `slot` is plain and has not been written since
 * it was made or reset, sets *base to the map it started from (borrowed:
 * it lives as long as `slot`, whatever is written to `slot` meanwhile) and
 * returns 1; else (a chained, written or recycled slot) returns 0.
 * ctxs_slot_reset_borrowed: ctxs_slot_reset, except that the slot takes no
 * reference to `map`: the caller must keep `map` alive until the slot is
 * recycled, or until ctxs_slot_own_base. Returns as ctxs_slot_reset.
 * ctxs_slot_own_base: the slot takes its own reference to a borrowed map
 * (nothing if it borrows none), so that it may outlive the lender; call it
 * while the lender is still alive, before a slot that could not be
 * recycled goes on without it. Thread-safe. */
int ctxs_slot_borrow_base(ctxs_slot *slot, ctxs_map *_Nullable *_Nonnull base);
int ctxs_slot_reset_borrowed(ctxs_slot *slot, ctxs_map *map);
void ctxs_slot_own_base(ctxs_slot *slot);

/* A scope's end and the next one's start as one call each, for the Swift
 * layer's `run(inheriting: .copy)`: five calls were two. (callgrind,
 * `run-copy-async` 1,426 -> 1,380 instructions, `run-copy` 826 -> 780;
 * Ratios, async `run(inheriting: .copy)` ÷ `withValue` 1.55 -> 1.43, sync
 * 1.45 -> 1.28.)
 *
 * ctxs_thread_spare_recycle: ctxs_slot_recycle(slot), then, if that
 * recycled it, ctxs_thread_spare_put(store, object), where `object` owns
 * `slot` (the caller's reference to `object` moves to the store); if it
 * could not recycle it, ctxs_slot_own_base(slot). Returns 1 when `object`
 * was parked, else 0 (the caller keeps its reference, and `slot` is
 * recycled or owns its base). Like ctxs_slot_recycle, never between
 * ctxs_slot_read_begin and ctxs_slot_read_end on `slot`.
 * ctxs_thread_spare_take_borrowing: when this thread's spare was parked by
 * ctxs_thread_spare_recycle and `lender` is plain and unwritten, resets
 * the spare's slot with ctxs_slot_reset_borrowed to the map `lender`
 * started from, and returns the spare (the reference moves to the caller);
 * else returns NULL and changes nothing. The caller keeps `lender` alive
 * as ctxs_slot_reset_borrowed requires. */
int ctxs_thread_spare_recycle(ctxs_store *store, ctxs_slot *slot, void *object);
void *_Nullable ctxs_thread_spare_take_borrowing(ctxs_store *store, ctxs_slot *lender);

/* ctxs_slot_read_end, inline, for the Swift layer's reads: every typed
 * read ends with it (callgrind, a typed read: 187 instructions with the
 * call, 182 inline).
 * A slot's lock is the int at CTXS_SLOT_LOCK_OFFSET, held while nonzero
 * (slot.c checks the offset at compile time, and its ctxs_slot_read_end
 * is this function; lock.h releases a lock the same way). */
#define CTXS_SLOT_LOCK_OFFSET 4
static inline void ctxs_slot_read_end_inline(ctxs_slot *_Nullable held) {
    if (held == NULL) return;
    _Atomic int *lock = (_Atomic int *)(void *)((char *)held + CTXS_SLOT_LOCK_OFFSET);
    atomic_store_explicit(lock, 0, memory_order_release);
}

/* One process-wide pointer the Swift layer publishes once (the address of
 * its task-local, which is its key in the runtime) and then reads on every
 * get. A C global read costs one load; a Swift global costs a lazy-init
 * check on every access. NULL until published. */
extern _Atomic(void *_Nullable) ctxs_swift_binding_key;

static inline void *_Nullable ctxs_swift_binding_key_get(void) {
    return atomic_load_explicit(&ctxs_swift_binding_key, memory_order_acquire);
}

static inline void ctxs_swift_binding_key_publish(void *key) {
    atomic_store_explicit(&ctxs_swift_binding_key, key, memory_order_release);
}

/* The Swift runtime's task-local bind and unbind (libswift_Concurrency),
 * which `TaskLocal.withValue` lowers to. Their ABI is fixed: the standard
 * library's inlinable `withValue` calls them. The push takes the task-local's
 * key, the address of the value to bind (taken over at +1: the runtime moves
 * it into the binding) and the value's type metadata. Declared here rather
 * than with `@_silgen_name` in Swift, which warns for names the runtime
 * reserves. The Swift layer calls them only through ctxs_swift_bind_push and
 * ctxs_swift_bind_pop, inline, so a C program that includes this header and
 * calls neither needs no Swift runtime. */
#if __has_attribute(swiftcall)
void swift_task_localValuePush(const void *key, void *value, const void *type)
    __attribute__((swiftcall));
void swift_task_localValuePop(void) __attribute__((swiftcall));

static inline void ctxs_swift_bind_push(const void *key, void *value, const void *type) {
    swift_task_localValuePush(key, value, type);
}

static inline void ctxs_swift_bind_pop(void) { swift_task_localValuePop(); }
#elif defined(__swift__)
#error "ContextStore's Swift layer needs clang's swiftcall attribute to bind its scopes"
#endif

/* The store the Swift layer uses, published once by its initialiser for the
 * same reason: the scope paths read it on every open and close. NULL until
 * published. */
extern _Atomic(ctxs_store *_Nullable) ctxs_swift_store;

static inline ctxs_store *_Nullable ctxs_swift_store_get(void) {
    return atomic_load_explicit(&ctxs_swift_store, memory_order_acquire);
}

static inline void ctxs_swift_store_publish(ctxs_store *store) {
    atomic_store_explicit(&ctxs_swift_store, store, memory_order_release);
}

/* The metadata of the Swift layer's `_AnyBox` class, published once it has
 * checked (`_checkClassLayout`) that a class's metadata holds its
 * superclass in its second word, which it then compares with this to tell
 * its boxes from other objects, and how an existential holds a class
 * instance, which a read by name then writes itself. NULL until then, or
 * for good if the check failed. A C global, because Swift code inlined into
 * another module reaches `_AnyBox`'s metadata through an accessor call. */
extern _Atomic(const void *_Nullable) ctxs_swift_box_class;

static inline const void *_Nullable ctxs_swift_box_class_get(void) {
    return atomic_load_explicit(&ctxs_swift_box_class, memory_order_relaxed);
}

static inline void ctxs_swift_box_class_publish(const void *_Nullable box_class) {
    atomic_store_explicit(&ctxs_swift_box_class, box_class, memory_order_relaxed);
}

/* The Swift store's first key cache (ctxs_intern_cache_table), published
 * by the Swift layer once it has checked how it keys strings (so also
 * NULL, for good, where that check failed). A read by name probes it
 * with ctxs_swift_key_cache_find. */
extern _Atomic(ctxs_key_cache_entry *_Nullable) ctxs_swift_key_cache;

static inline void ctxs_swift_key_cache_publish(ctxs_key_cache_entry *table) {
    atomic_store_explicit(&ctxs_swift_key_cache, table, memory_order_release);
}

/* 1 once the Swift layer has checked, on this platform, how it reads a
 * String's words (the name cache's keys, and the strings it stores in a
 * tagged word): it publishes its key cache then, so the published table
 * says it. 0 until then, or for good if the check failed. */
static inline int ctxs_swift_string_keys_get(void) {
    return atomic_load_explicit(&ctxs_swift_key_cache, memory_order_relaxed) != NULL;
}

/* ctxs_intern_cache_find on the published cache, inline: the id of the
 * name keyed (key0, key1), or 0 (ids are never 0) on a miss or before the
 * cache is published. The same promise as ctxs_intern_cache_find's. */
static inline uint64_t ctxs_swift_key_cache_find(uint64_t key0, uint64_t key1) {
    ctxs_key_cache_entry *table = atomic_load_explicit(&ctxs_swift_key_cache, memory_order_acquire);
    if (table == NULL) return 0;
    return ctxs_key_cache_read(
        &table[ctxs_key_cache_index(key0, key1) & (CTXS_KEY_CACHE_ENTRIES - 1)], key0, key1);
}

CTXS_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* CCONTEXTSTORE_SPI_H */
