import CContextStore

/// A value a module of this package computed from a context's contents,
/// kept with those contents (on the slot's memo, which every write drops)
/// so that it is computed once per version of the context, not once per
/// call. ContextStoreLogging keeps each line's metadata this way.
///
/// Immutable once made; `owner` is held strongly so that its identity can
/// never be reused by another owner while the entry lives. Not generic:
/// a generic class's metadata is looked up at run time on each use
/// (callgrind: 330 instructions of a log line's 850).
final class _Derived: Sendable {
    let owner: AnyObject & Sendable
    let value: AnyObject & Sendable
    let next: _Derived?

    init(owner: AnyObject & Sendable, value: AnyObject & Sendable, next: _Derived?) {
        self.owner = owner
        self.value = value
        self.next = next
    }
}

extension TaskContext {
    /// How many owners' values one version of a context keeps; a further
    /// owner's value replaces them all (servers have one or two).
    static let _derivedLimit = 4

    /// The object `derive` makes of the current context, computed once per
    /// version of the context (the scope's contents between two writes) and
    /// `owner`: later calls with the same owner, before the scope's next
    /// write, return the kept value. `derive` must be a pure function of the
    /// context it gets, and must make the same value for the same owner. A kept object is returned
    /// only if its class is exactly `Value`.
    /// Nil when no scope is open.
    ///
    /// In a chained scope nothing is kept: `derive` runs on each call.
    package static func _derived<Value: AnyObject & Sendable>(
        by owner: AnyObject & Sendable, _ derive: (TaskContext) -> Value
    ) -> Value? {
        // The work is not generic: called from another module, a generic
        // body ran unspecialised and made `Optional<Value>`'s metadata on
        // every call (callgrind, a log line's provider call that finds its
        // metadata: 665 instructions, 325 of them that; see `log-provider`).
        guard let object = _derivedObject(by: owner, ObjectIdentifier(Value.self), { derive($0) }) else {
            return nil
        }
        return unsafeDowncast(object, to: Value.self)
    }

    /// `_derived`, for a value whose class is `kind`.
    static func _derivedObject(
        by owner: AnyObject & Sendable, _ kind: ObjectIdentifier,
        _ derive: (TaskContext) -> AnyObject & Sendable
    ) -> (AnyObject & Sendable)? {
        guard let slot = _readSlot() else { return nil }
        let map = _snapshot(slot)
        // The chain is walked unretained, since `map` holds it (callgrind,
        // a log line's provider call that finds its metadata: 425 -> 378
        // instructions); `map` is kept alive for the walk explicitly, as the
        // slot's memo may be dropped meanwhile by another task's write.
        var kept = 0
        let hit: (AnyObject & Sendable)? = withExtendedLifetime(map) {
            var entry = map.derived.map(Unmanaged.passUnretained)
            while let current = entry {
                let match: (AnyObject & Sendable)? = current._withUnsafeGuaranteedRef { derived in
                    // A class-pointer compare, not `as?` (a runtime call).
                    guard derived.owner === owner, ObjectIdentifier(type(of: derived.value)) == kind else {
                        return nil
                    }
                    return derived.value
                }
                if let match { return match }
                entry = current._withUnsafeGuaranteedRef { $0.next.map(Unmanaged.passUnretained) }
                kept += 1
            }
            return nil
        }
        if let hit { return hit }
        let value = derive(TaskContext(_map: map))
        // The richer map replaces the memo only if the memo is still `map`:
        // a write since, or another task sharing the scope that got there
        // first, leaves the slot as it is (the value is still right for
        // `map`, which this call read).
        let next = kept < _derivedLimit ? map.derived : nil
        let richer = _Map(
            adopting: ctxs_map_fork(map.raw), derived: _Derived(owner: owner, value: value, next: next))
        _ = ctxs_slot_memo_replace(
            slot, Unmanaged.passUnretained(map).toOpaque(), Unmanaged.passUnretained(richer).toOpaque())
        return value
    }
}
