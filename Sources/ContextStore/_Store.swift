import CContextStore

/// The process-wide C store behind every ``TaskContext``, and the boxes that
/// carry Swift values through it.
///
/// Values cross into C as `Unmanaged<_AnyBox>` pointers. The store's retain
/// and release callbacks are plain Swift reference-count operations: the
/// store retains a box once when an entry for it is made and releases it
/// once when the last map holding that entry is freed.
@usableFromInline
struct _Store: @unchecked Sendable {
    // Safe: `raw` is immutable and never freed, and every C function of the
    // store is thread-safe (see CContextStore.h).
    @usableFromInline let raw: OpaquePointer

    @usableFromInline static let shared: _Store = {
        var options = ctxs_store_options()
        options.retain = { _, value in _ = Unmanaged<AnyObject>.fromOpaque(value!).retain() }
        options.release = { _, value in Unmanaged<AnyObject>.fromOpaque(value!).release() }
        guard let raw = ctxs_store_create(&options) else {
            fatalError("ContextStore: cannot create the context store (out of memory)")
        }
        return _Store(raw: raw)
    }()

    /// The interned id of `name`, interning it if needed; nil when the store
    /// cannot allocate.
    @usableFromInline
    func intern(_ name: String) -> UInt64? {
        var name = name
        return name.withUTF8 { bytes -> UInt64? in
            var id: UInt64 = 0
            return ctxs_intern(raw, bytes.baseAddress, bytes.count, &id) == CTXS_OK.rawValue ? id : nil
        }
    }

    /// The id of `name` if some code has interned it, without interning it.
    @usableFromInline
    func lookup(_ name: String) -> UInt64? {
        var name = name
        return name.withUTF8 { bytes -> UInt64? in
            var id: UInt64 = 0
            return ctxs_intern_find(raw, bytes.baseAddress, bytes.count, &id) == 1 ? id : nil
        }
    }

    /// The name an id was interned from. Bytes that are not UTF-8 (possible
    /// only for names interned from C) are repaired with U+FFFD.
    func name(of id: UInt64) -> String? {
        var bytes: UnsafeRawPointer?
        var length = 0
        guard ctxs_intern_name(raw, id, &bytes, &length) == 1 else { return nil }
        guard length > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
}

/// The type-erased box every context value is stored in.
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

/// Boxes an existential by its dynamic type, so that a typed read of that
/// type hits the fast path in `_unbox`.
@usableFromInline
func _makeBox<Value: Sendable>(_ value: Value) -> _AnyBox {
    _Box(value)
}

/// Reads a box as `Value`: a class check for the exact type, else a dynamic
/// cast of the existential (for existential or optional `Value`s). Returns
/// nil when the stored value is of another type.
@inlinable
func _unbox<Value: Sendable>(_ box: _AnyBox, as _: Value.Type) -> Value? {
    // Comparing the class pointer costs a load and a compare; `as?` would
    // call into the runtime (swift_dynamicCastClass) on every read.
    if ObjectIdentifier(type(of: box)) == ObjectIdentifier(_Box<Value>.self) {
        return unsafeDowncast(box, to: _Box<Value>.self).value
    }
    return box.anyValue as? Value
}
