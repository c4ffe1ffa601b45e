import CContextStore

/// Owns one reference to an immutable C map.
@usableFromInline
final class _Map: @unchecked Sendable {
    // Safe: the C map is immutable once made and its reference count is
    // atomic, so any thread may read or release it; `raw` never changes.
    @usableFromInline let raw: OpaquePointer

    /// Values other modules of this package derived from the contents (see
    /// `TaskContext._derived`), newest first; immutable like the rest.
    let derived: _Derived?

    /// Takes over a +1 reference.
    @usableFromInline init(adopting raw: OpaquePointer) {
        self.raw = raw
        self.derived = nil
    }

    /// Takes over a +1 reference to the same contents as a map carrying
    /// `derived`.
    init(adopting raw: OpaquePointer, derived: _Derived) {
        self.raw = raw
        self.derived = derived
    }

    deinit {
        ctxs_map_release(raw)
    }

    @usableFromInline static let empty = _Map(adopting: ctxs_map_new(_Store.raw))

    /// The word stored under `id` (see `_Stored`), or nil. It stays valid
    /// while this map is alive.
    @usableFromInline
    func stored(for id: UInt64) -> UnsafeMutableRawPointer? {
        var value: UnsafeMutableRawPointer?
        guard ctxs_map_find(raw, id, &value) == 1 else { return nil }
        return value
    }

    @usableFromInline
    func setting(_ id: UInt64, _ value: _Stored) throws(ContextError) -> _Map {
        var out: OpaquePointer?
        let status = value.withRaw { ctxs_map_assoc(raw, id, $0, &out) }
        guard status == CTXS_OK.rawValue, let out else { throw .allocationFailed }
        return _Map(adopting: out)
    }

    @usableFromInline
    func removing(_ id: UInt64) throws(ContextError) -> _Map {
        var out: OpaquePointer?
        guard ctxs_map_without(raw, id, &out) == CTXS_OK.rawValue, let out else { throw .allocationFailed }
        return _Map(adopting: out)
    }

    var count: Int { ctxs_map_count(raw) }

    /// Every (id, stored word) pair, in trie order.
    func forEach(_ body: (UInt64, UnsafeMutableRawPointer) -> Void) {
        var iterator = ctxs_map_iter()
        ctxs_map_iter_init(&iterator, raw)
        var key: UInt64 = 0
        var value: UnsafeMutableRawPointer?
        while ctxs_map_iter_next(&iterator, &key, &value) == 1 {
            if let value { body(key, value) }
        }
    }
}
