import CContextStore
import CContextStoreSPI

/// The process-wide C store behind every ``TaskContext``, and the objects
/// that carry Swift values through it.
///
/// Values cross into C as object pointers (see `_encode`). The store's
/// retain and release callbacks are plain Swift reference-count operations:
/// the store retains an object once when an entry for it is made and
/// releases it once when the last map holding that entry is freed.
@usableFromInline
struct _Store: @unchecked Sendable {
    // Safe: `raw` is immutable and never freed, and every C function of the
    // store is thread-safe (see CContextStore.h).
    @usableFromInline let raw: OpaquePointer

    @usableFromInline static let shared: _Store = {
        var options = ctxs_store_options()
        options.retain = { _, value in _ = Unmanaged<AnyObject>.fromOpaque(value).retain() }
        options.release = { _, value in Unmanaged<AnyObject>.fromOpaque(value).release() }
        guard let raw = ctxs_store_create(&options) else {
            fatalError("ContextStore: cannot create the context store (out of memory)")
        }
        ctxs_swift_string_keys_publish(_checkStringKeys() ? 1 : 0)
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
    @usableFromInline
    static func intern(_ name: String) -> UInt64? {
        id(of: name) { bytes, id in ctxs_intern(raw, bytes.baseAddress, bytes.count, &id) == CTXS_OK.rawValue }
    }

    /// The id of `name` if some code has interned it, without interning it.
    /// A small or literal name is found in the key cache (two words
    /// compared) after its first lookup; others are hashed (callgrind,
    /// `get("key-0")`: 719 -> ... instructions).
    @usableFromInline
    static func lookup(_ name: String) -> UInt64? {
        id(of: name) { bytes, id in ctxs_intern_find(raw, bytes.baseAddress, bytes.count, &id) == 1 }
    }

    /// The id of `name`: from the key cache when the name has a cache key,
    /// else from `table` (given the name's bytes, it sets the id and says
    /// whether it found one), whose answer is then cached.
    private static func id(of name: String, _ table: (UnsafeRawBufferPointer, inout UInt64) -> Bool) -> UInt64? {
        let key = _cacheKey(name)
        var id: UInt64 = 0
        if let key, ctxs_intern_cache_find(raw, key.0, key.1, &id) == 1 { return id }
        guard _withKeyNameBytes(name, { table($0, &id) }) else { return nil }
        if let key { ctxs_intern_cache_put(raw, key.0, key.1, id) }
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

/// How values are stored. A value crosses into C as one retained object
/// pointer: a class instance is stored as itself, any other value in a
/// `_Box`. Storing class instances unboxed saves a heap allocation and a
/// free per write (callgrind, replacing a class value at n = 1: 958 -> 446
/// instructions per set), and a typed read of either kind is still one
/// class-pointer compare.
@usableFromInline
class _AnyBox: @unchecked Sendable {
    // Safe: this class has no stored state, and its only subclass, `_Box`,
    // holds one immutable `let` of a `Sendable` type.
    @usableFromInline init() {}

    /// The value as an existential, for string-keyed reads.
    @usableFromInline var anyValue: any Sendable { () }
}

@usableFromInline
final class _Box<Value: Sendable>: _AnyBox, @unchecked Sendable {
    // Safe: `value` is an immutable `let` of a `Sendable` type.
    @usableFromInline let value: Value

    @usableFromInline init(_ value: Value) {
        self.value = value
    }

    @usableFromInline override var anyValue: any Sendable { value }
}

/// The object that stores `value`: the instance itself for a class type,
/// else a box. An existential is opened first (by the generic call), so a
/// class instance held in `any Sendable` is stored unboxed too.
@inlinable
func _encode<Value: Sendable>(_ value: Value) -> AnyObject {
    if Value.self is AnyClass {
        // Same size and bits: a class-typed value is one strong reference.
        return unsafeBitCast(value, to: AnyObject.self)
    }
    return _Box(value)
}

/// Reads a stored object as `Value`: a class-pointer compare for the exact
/// type (the instance's class, or `_Box<Value>`), else a dynamic cast of the
/// existential (for subclasses, existential or optional `Value`s). Returns
/// nil when the stored value is of another type.
@inlinable
func _decode<Value: Sendable>(_ object: AnyObject, as _: Value.Type) -> Value? {
    // Comparing the class pointer costs a load and a compare; `as?` would
    // call into the runtime (swift_dynamicCastClass) on every read.
    if Value.self is AnyClass {
        if ObjectIdentifier(type(of: object)) == ObjectIdentifier(Value.self) {
            return unsafeBitCast(object, to: Value.self)
        }
    } else if ObjectIdentifier(type(of: object)) == ObjectIdentifier(_Box<Value>.self) {
        return unsafeDowncast(object, to: _Box<Value>.self).value
    }
    return _anyValue(object) as? Value
}

/// A stored object's value as an existential.
@inlinable
func _anyValue(_ object: AnyObject) -> any Sendable {
    // A box's class is a `_Box<Value>`, whose superclass is `_AnyBox` (no
    // one else can subclass it): one metadata read, where `as? _AnyBox`
    // costs a dynamic cast and a retain (callgrind, `get("key-0")`: ...).
    if ObjectIdentifier(_getSuperclass(type(of: object)) ?? AnyObject.self) == ObjectIdentifier(_AnyBox.self) {
        return unsafeDowncast(object, to: _AnyBox.self).anyValue
    }
    // A class instance stored by `_encode`, which took it as a `Sendable`
    // value, so it is one. `Any` and `any Sendable` share one layout (a
    // marker protocol adds no witness table), which the bit cast relies on;
    // `ValueStorageTests` checks the round trips.
    return unsafeBitCast(object as Any, to: (any Sendable).self)
}
