import CContextStore
import CContextStoreSPI

/// The process-wide C store behind every ``TaskContext``.
///
/// Values cross into C as one word each (see `_Stored`): an object pointer,
/// or a small value tagged in the word itself. The store's retain and
/// release callbacks are plain Swift reference-count operations on the
/// objects: the store retains an object once when an entry for it is made
/// and releases it once when the last map holding that entry is freed.
@usableFromInline
struct _Store: @unchecked Sendable {
    // Safe: `raw` is immutable and never freed, and every C function of the
    // store is thread-safe (see CContextStore.h).
    @usableFromInline let raw: OpaquePointer

    @usableFromInline static let shared: _Store = {
        var options = ctxs_store_options()
        // A tagged value (see `_Stored`) is no object: nothing to count.
        options.retain = { _, value in
            if _Stored.isObject(value) { _ = Unmanaged<AnyObject>.fromOpaque(value).retain() }
        }
        options.release = { _, value in
            if _Stored.isObject(value) { Unmanaged<AnyObject>.fromOpaque(value).release() }
        }
        guard let raw = ctxs_store_create(&options) else {
            fatalError("ContextStore: cannot create the context store (out of memory)")
        }
        // Turns string keys on (`ctxs_swift_string_keys_get`).
        if _checkStringKeys() { ctxs_swift_key_cache_publish(ctxs_intern_cache_table(raw)) }
        ctxs_swift_box_class_publish(_checkClassLayout() ? unsafeBitCast(_AnyBox.self, to: UnsafeRawPointer.self) : nil)
        ctxs_swift_store_publish(raw)
        return _Store(raw: raw)
    }()

    /// The shared store's pointer. Reading `shared` costs a lazy-init
    /// check (`swift_once`) on every access; once the store exists, its
    /// pointer is read from a C global instead, which is one load
    /// (callgrind: 3 `swift_once` calls per scope open and close).
    @inlinable static var raw: OpaquePointer {
        if let store = ctxs_swift_store_get() { return store }
        return shared.raw
    }

    /// The interned id of `name` (its NFC bytes: see `_withKeyNameBytes`),
    /// interning it if needed; nil when the store cannot allocate.
    static func intern(_ name: String) -> UInt64? {
        // A name not interned yet is hashed twice, once in its life.
        if let id = lookup(name) { return id }
        return internMissed(name)
    }

    /// `intern(name)` for a write: throws `.allocationFailed` where
    /// `intern` gives nil. Not inlinable: it is the slow path of every typed
    /// write (`ContextKey._writeID`), and inlined there `intern` made every
    /// typed write bigger (callgrind, out of line: `set-remove` 989 -> 972,
    /// `replace` 371 -> 357, `request-writes` 3,875 -> 3,803).
    @usableFromInline
    static func internForWrite(_ name: String) throws(ContextError) -> UInt64 {
        guard let id = intern(name) else { throw .allocationFailed }
        return id
    }

    /// The id of `name` if some code has interned it, without interning it.
    /// A small or literal name is found in the key cache (two words
    /// compared) after its first lookup (callgrind, `get("key-0")`: 719 ->
    /// 493 instructions); a heap string in `lookupMissed`.
    @usableFromInline
    static func lookup(_ name: String) -> UInt64? {
        // The cache probe inline (`ctxs_swift_key_cache_find`), which finds
        // nothing until the store has checked the string layout `_cacheKey`
        // reads and published its cache (callgrind, `get-name`: 419 -> 372).
        #if _pointerBitWidth(_64)
            let words = unsafeBitCast(name, to: (UInt64, UInt64).self)
            if _wordsFixBytes(words) {
                let id = ctxs_swift_key_cache_find(words.0, words.1)
                if id != 0 { return id }
            }
        #endif
        return lookupMissed(name)
    }

    /// `lookup` past the key cache, and `intern` past `lookup`: out of line,
    /// so that a hit in the cache pays for no more than the cache
    /// (callgrind, `get-name`: 449 -> 439). Not one function taking the
    /// table: the compiler then merged `intern` and `lookup`, and the hit
    /// path cost 5 instructions more.
    @inline(never)
    private static func internMissed(_ name: String) -> UInt64? {
        missed(name) { bytes, id in ctxs_intern(raw, bytes.baseAddress, bytes.count, &id) == CTXS_OK.rawValue }
    }

    /// A heap string looks in the cache here, with its bytes compared (see
    /// `_checkedCacheKey`), before its bytes are hashed (callgrind,
    /// `get-name-built`: 770 -> 522 instructions). Here, not in `lookup`:
    /// a literal's hit pays nothing for it.
    @inline(never)
    private static func lookupMissed(_ name: String) -> UInt64? {
        if let key = _checkedCacheKey(name) {
            let hit: UInt64?? = name.utf8.withContiguousStorageIfAvailable { bytes in
                var id: UInt64 = 0
                let found = ctxs_intern_cache_find_checked(raw, key.0, key.1, bytes.baseAddress, bytes.count, &id)
                return found == 1 ? id : nil
            }
            if let hit, let id = hit { return id }
        }
        return missed(name) { bytes, id in ctxs_intern_find(raw, bytes.baseAddress, bytes.count, &id) == 1 }
    }

    /// The id of `name` from `table` (given the name's bytes, it sets the id
    /// and says whether it found one), which is then cached if the name has
    /// a cache key. A heap string's is cached only when the bytes are its
    /// own: a string not in NFC could never hit its entry (a checked hit
    /// needs the string's bytes to be the name's), so the entry would only
    /// push another out.
    private static func missed(_ name: String, _ table: (UnsafeRawBufferPointer, inout UInt64) -> Bool) -> UInt64? {
        var id: UInt64 = 0
        var own = false
        let found = _withKeyNameBytes(name) { bytes, isOwn in
            own = isOwn
            return table(bytes, &id)
        }
        guard found else { return nil }
        if let key = _cacheKey(name) {
            ctxs_intern_cache_put(raw, key.0, key.1, id)
        } else if own, let key = _checkedCacheKey(name) {
            ctxs_intern_cache_put_checked(raw, key.0, key.1, id)
        }
        return id
    }

    /// The name an id was interned from: for a name interned from Swift,
    /// its NFC spelling. Bytes that are not UTF-8 (possible only for names
    /// interned from C) are repaired with U+FFFD.
    static func name(of id: UInt64) -> String? {
        var bytes: UnsafeRawPointer?
        var length = 0
        guard ctxs_intern_name(raw, id, &bytes, &length) == 1 else { return nil }
        guard length > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
}
