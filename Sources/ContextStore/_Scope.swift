import CContextStore
import CContextStoreSPI

/// One context scope: owns one reference to a C slot. Bound to tasks through
/// `TaskContext._binding`.
@usableFromInline
final class _Scope: @unchecked Sendable {
    // Safe: `slot` never changes, and the C slot serialises every read and
    // write with its own lock (see slot.c), from any thread.

    /// The scope's slot; nil only for `none`.
    @usableFromInline let slot: OpaquePointer?

    /// Takes over a +1 slot reference.
    init(adopting slot: OpaquePointer) {
        self.slot = slot
    }

    private init() {
        self.slot = nil
    }

    /// No scope: the binding's default value. `_binding` holds a non-optional
    /// `_Scope` so that binding one goes through a class's value witnesses
    /// rather than Optional's generic ones (callgrind: 662 -> 570
    /// instructions per `withValue`).
    @usableFromInline static let none = _Scope()

    deinit {
        if let slot { ctxs_slot_release(slot) }
    }

    /// A new scope over `enclosing` (a borrowed slot, or nil for none).
    /// Traps only when the store cannot allocate, as Swift does itself.
    static func make(_ inheritance: Inheritance, over enclosing: OpaquePointer?) -> _Scope {
        if inheritance == .copy { return copy(of: enclosing) }
        let slot: OpaquePointer?
        if let parent = enclosing {
            slot = inheritance == .chain ? ctxs_slot_create(_Store.raw, nil, parent) : ctxs_slot_retain(parent)
        } else {
            slot = ctxs_slot_create(_Store.raw, nil, nil)
        }
        guard let slot else { outOfMemory() }
        return _Scope(adopting: slot)
    }

    /// A scope that starts from `map`.
    @usableFromInline
    static func make(with map: OpaquePointer) -> _Scope {
        reusing(adopting: ctxs_map_fork(map))
    }

    /// A `.copy` scope over `enclosing` (a borrowed slot, or nil): its
    /// contents and its pending writes (see slot.c), copied as they are, so
    /// that a child task's scope costs no map of its own until it writes
    /// more than the slot keeps pending.
    @usableFromInline
    static func copy(of enclosing: OpaquePointer?) -> _Scope {
        guard let enclosing else { return reusing(adopting: ctxs_map_new(_Store.raw)) }
        let store = _Store.raw
        if let spare = ctxs_thread_spare_take(store) {
            let scope = Unmanaged<_Scope>.fromOpaque(spare).takeRetainedValue()
            guard ctxs_slot_copy(store, enclosing, scope.slot!) != nil else { outOfMemory() }
            return scope
        }
        guard let slot = ctxs_slot_copy(store, enclosing, nil) else { outOfMemory() }
        return _Scope(adopting: slot)
    }

    /// A `.copy` scope for `run`, over the scope bound here, which outlives
    /// the body: when that scope has not been written, the new one borrows
    /// the map it started from instead of counting a reference to it, in
    /// this thread's spare scope object (`ctxs_thread_spare_take_borrowing`).
    /// `recycle` ends it, and gives it a reference of its own if it outlives
    /// the body. (callgrind, `run-copy`: 847 -> 826 instructions, and two
    /// locked operations fewer; one C call for the three, 826 -> 780.)
    @usableFromInline
    static func copyForRun() -> _Scope {
        guard let enclosing = _boundSlot() else { return copy(of: TaskContext._unboundReadSlot()) }
        if let spare = ctxs_thread_spare_take_borrowing(_Store.raw, enclosing) {
            return Unmanaged<_Scope>.fromOpaque(spare).takeRetainedValue()
        }
        return copy(of: enclosing)
    }

    /// A plain scope holding `map` (+1, taken over): this thread's spare
    /// scope object if it has one, else a new one.
    private static func reusing(adopting map: OpaquePointer) -> _Scope {
        if let spare = ctxs_thread_spare_take(_Store.raw) {
            let scope = Unmanaged<_Scope>.fromOpaque(spare).takeRetainedValue()
            // Spares are recycled plain slots of this store, so this holds.
            let status = ctxs_slot_reset(scope.slot!, map)
            precondition(status == CTXS_OK.rawValue, "ContextStore: a spare scope was not recycled")
            return scope
        }
        let store = _Store.raw
        guard let slot = ctxs_slot_adopt(store, map) else {
            ctxs_map_release(map)
            outOfMemory()
        }
        return _Scope(adopting: slot)
    }

    /// Ends a scope made by `copy(of:)` or `make(with:)` once its body has
    /// returned: if nothing else holds it (no task, no chained child, no
    /// sharer), its contents are released now and the object is parked as
    /// this thread's spare, so the next scope costs no allocation. (Opening
    /// and closing a scope was two allocations and two frees: a Swift object
    /// and a C slot. callgrind, `run(inheriting: .copy)` with an empty body:
    /// 1,406 -> 1,072 instructions, of which `withValue` itself is 561.)
    ///
    /// A scope that something else still holds (a task it was shared with,
    /// a chained child) lives on, with a reference of its own to a map it
    /// borrowed (see `copyForRun`).
    @usableFromInline
    static func recycle(_ scope: inout _Scope?) {
        guard isKnownUniquelyReferenced(&scope), let slot = scope?.slot else {
            if let slot = scope?.slot { ctxs_slot_own_base(slot) }
            return
        }
        // Moved out of `scope` and into the spare: the retain and the
        // temporary's release are adjacent, so the optimiser drops both.
        let raw = Unmanaged.passRetained(scope.take()!).toOpaque()
        if ctxs_thread_spare_recycle(_Store.raw, slot, raw) == 0 {
            // Not parked: a chained child holds the slot, or this thread
            // has a spare already.
            Unmanaged<_Scope>.fromOpaque(raw).release()
        }
    }
}

/// Scope creation cannot throw (`run` is `rethrows`), so a failed
/// allocation there traps, as every Swift allocation does.
func outOfMemory() -> Never {
    fatalError("ContextStore: out of memory while opening a context scope")
}
