import CContextStore

/// One context scope: owns one reference to a C slot. Bound to tasks through
/// `TaskContext._binding`.
@usableFromInline
final class _Scope: @unchecked Sendable {
    // Safe: `slot` never changes, and the C slot serialises every read and
    // write with its own lock (see slot.c), from any thread.
    @usableFromInline let slot: OpaquePointer

    /// Takes over a +1 slot reference.
    init(adopting slot: OpaquePointer) {
        self.slot = slot
    }

    deinit {
        ctxs_slot_release(slot)
    }

    /// A new scope over `enclosing` (a borrowed slot, or nil for none).
    /// Traps only when the store cannot allocate, as Swift does itself.
    static func make(_ inheritance: Inheritance, over enclosing: OpaquePointer?) -> _Scope {
        let store = _Store.shared.raw
        let slot: OpaquePointer?
        switch (inheritance, enclosing) {
        case (_, nil):
            slot = ctxs_slot_create(store, nil, nil)
        case (.copy, let parent?):
            var map: OpaquePointer?
            guard ctxs_slot_snapshot(parent, &map) == CTXS_OK.rawValue, let map else { outOfMemory() }
            slot = ctxs_slot_create(store, map, nil)
            ctxs_map_release(map)
        case (.chain, let parent?):
            slot = ctxs_slot_create(store, nil, parent)
        case (.share, let parent?):
            slot = ctxs_slot_retain(parent)
        }
        guard let slot else { outOfMemory() }
        return _Scope(adopting: slot)
    }

    /// A scope that starts from `map`.
    static func make(with map: OpaquePointer) -> _Scope {
        guard let slot = ctxs_slot_create(_Store.shared.raw, map, nil) else { outOfMemory() }
        return _Scope(adopting: slot)
    }
}

/// Scope creation cannot throw (`run` is `rethrows`), so a failed
/// allocation there traps, as every Swift allocation does.
func outOfMemory() -> Never {
    fatalError("ContextStore: out of memory while opening a context scope")
}
