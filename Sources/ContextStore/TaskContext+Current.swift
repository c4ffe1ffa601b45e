import CContextStore
import CContextStoreSPI

extension TaskContext {
    /// The one task-local behind every context scope.
    @usableFromInline static let _binding: TaskLocal<_Scope> = {
        let local = TaskLocal<_Scope>(wrappedValue: _Scope.none)
        // The object lives forever (a static let), so its address is a stable key.
        ctxs_swift_binding_key_publish(Unmanaged.passUnretained(local).toOpaque())
        return local
    }()

    /// Whether the caller runs in a task. This costs a closure call and a
    /// retain and release of the task (`withUnsafeCurrentTask`), so the
    /// paths below ask it last, only when the thread has a context.
    @usableFromInline static var _inTask: Bool {
        withUnsafeCurrentTask { $0 != nil }
    }

    /// The slot reads go to: the bound scope's; else, off any task, the
    /// thread's context if it has one; else nil.
    ///
    /// A thread that has never written a context off any task has none, and
    /// then whether the caller is in a task does not matter: the answer is
    /// nil either way, without asking (perf, a request opening a scope with
    /// none enclosing: `_inTask` was 5% of it, about 150 ns).
    @inlinable static func _readSlot() -> OpaquePointer? {
        if let slot = _boundSlot() { return slot }
        return _unboundReadSlot()
    }

    /// `_readSlot()` when no scope is bound: the thread's context, off any task.
    @inlinable static func _unboundReadSlot() -> OpaquePointer? {
        guard let thread = ctxs_thread_slot_peek(_Store.raw) else { return nil }
        return _inTask ? nil : thread
    }

    /// The slot writes go to: the bound scope's; else, off any task, the
    /// thread's context (made now if needed). In a task with no scope, or
    /// in a value's deinit run by the store with no scope bound (the
    /// thread's context is hidden then: see `ctxs_thread_in_release`), the
    /// write fails with `noScope(key:)`.
    ///
    /// Inlinable for its common case, a bound scope: the rest is a call.
    /// (callgrind, with `_set` and `ContextKey._writeID` inlinable too:
    /// set-remove 927 -> 889 instructions, a replace 358 -> 320.)
    @inlinable static func _writeSlot(_ key: @autoclosure () -> String) throws(ContextError) -> OpaquePointer {
        if let slot = _boundSlot() { return slot }
        return try _unboundWriteSlot(key())
    }

    /// `_writeSlot()` when no scope is bound.
    @usableFromInline static func _unboundWriteSlot(_ key: @autoclosure () -> String) throws(ContextError)
        -> OpaquePointer
    {
        if _inTask { throw .noScope(key: key()) }
        guard let slot = ctxs_thread_slot(_Store.raw) else {
            throw ctxs_thread_in_release() != 0 ? .noScope(key: key()) : .allocationFailed
        }
        return slot
    }

    /// What `body` makes of the word stored under `id` in the current
    /// context (see `_Stored`), or nil when there is none. A borrowed read:
    /// `body` runs under the slot's lock with the value unretained, which
    /// saves retaining and releasing it, so `body` copies out what it needs
    /// and never calls into the store.
    @inlinable @inline(__always)
    static func _withStored<R>(_ id: UInt64, _ body: (UnsafeMutableRawPointer) -> R?) -> R? {
        guard let slot = _readSlot() else { return nil }
        var raw: UnsafeMutableRawPointer?
        var held: OpaquePointer?
        guard ctxs_slot_read_begin(slot, id, &raw, &held) == 1, let raw else { return nil }
        defer { ctxs_slot_read_end_inline(held) }
        return body(raw)
    }

    /// Stores `value` (from `_encode`) under `id` in `slot` (from
    /// `_writeSlot`, resolved once by the caller).
    @inlinable static func _set(_ slot: OpaquePointer, _ id: UInt64, _ value: _Stored) throws(ContextError) {
        let status = value.withRaw { ctxs_slot_assoc(slot, id, $0) }
        guard status == CTXS_OK.rawValue else { throw .allocationFailed }
    }

    @usableFromInline static func _remove(_ id: UInt64?, name: @autoclosure () -> String) throws(ContextError) {
        let slot = try _writeSlot(name())
        guard let id else { return }  // never interned, so never stored
        guard ctxs_slot_without(slot, id) == CTXS_OK.rawValue else { throw .allocationFailed }
    }

    // MARK: Reading

    /// The current context as a value, in O(1) for a copied or shared scope
    /// (a chained scope merges its layers). In a task with no scope it is empty.
    ///
    /// ```swift
    /// let snapshot = TaskContext.current
    /// DispatchQueue.global().async {
    ///     TaskContext.run(with: snapshot) { log("done") }
    /// }
    /// ```
    public static var current: TaskContext {
        guard let slot = _readSlot() else { return TaskContext() }
        return TaskContext(_map: _snapshot(slot))
    }

    /// The slot's contents as a `_Map`. A plain slot keeps the `_Map` made
    /// for its contents as its memo, so reading again before the next write
    /// allocates nothing.
    static func _snapshot(_ slot: OpaquePointer) -> _Map {
        var memo: UnsafeMutableRawPointer?
        if ctxs_slot_memo_get(slot, &memo) == 1, let memo {
            return Unmanaged<_Map>.fromOpaque(memo).takeRetainedValue()
        }
        var raw: OpaquePointer?
        guard ctxs_slot_snapshot(slot, &raw) == CTXS_OK.rawValue, let raw else {
            fatalError("ContextStore: out of memory while merging a chained context")
        }
        let map = _Map(adopting: raw)
        _ = ctxs_slot_memo_set(slot, raw, Unmanaged.passUnretained(map).toOpaque())
        return map
    }

    /// The value under `key` in the current context, or nil if there is
    /// none, if it is not a `Value`, or if no scope is open.
    ///
    /// ```swift
    /// let requestID = ContextKey<String>("request_id")
    /// if let id = TaskContext.get(requestID) { print("handling", id) }
    /// ```
    @inlinable
    public static func get<Value>(_ key: ContextKey<Value>) -> Value? {
        guard let id = key._readID else { return nil }
        return _withStored(id) { _decode($0, as: Value.self) }
    }

    /// The value under `key`, or `default`.
    ///
    /// ```swift
    /// let retries = TaskContext.get(ContextKey<Int>("retries"), default: 3)
    /// ```
    @inlinable
    public static func get<Value>(_ key: ContextKey<Value>, default defaultValue: Value) -> Value {
        get(key) ?? defaultValue
    }

    /// The value stored under `name`, whatever its type, or nil.
    ///
    /// ```swift
    /// let id = TaskContext.get("request_id") as? String
    /// ```
    @inlinable
    public static func get(_ name: String) -> (any Sendable)? {
        // `_withStored` by hand: through its closure the existential was
        // copied once more on the way out (callgrind, `get-name`: 454 -> 447).
        guard let id = _Store.lookup(name), let slot = _readSlot() else { return nil }
        var raw: UnsafeMutableRawPointer?
        var held: OpaquePointer?
        guard ctxs_slot_read_begin(slot, id, &raw, &held) == 1, let raw else { return nil }
        defer { ctxs_slot_read_end_inline(held) }
        return _optionalAnyValue(raw)
    }

    /// The value under `name` if it is a `Value`, else nil: a read by name
    /// with the type a typed key would give it, and no existential on the
    /// way (see <doc:Performance>).
    ///
    /// ```swift
    /// let requestID = TaskContext.get("request_id", as: String.self)
    /// ```
    @inlinable
    public static func get<Value: Sendable>(_ name: String, as _: Value.Type) -> Value? {
        guard let id = _Store.lookup(name) else { return nil }
        return _withStored(id) { _decode($0, as: Value.self) }
    }

    /// The value under `name` if it is a `Value`, else `default`.
    ///
    /// ```swift
    /// let locale = TaskContext.get("locale", default: "en_US")
    /// ```
    @inlinable
    public static func get<Value>(_ name: String, default defaultValue: Value) -> Value {
        guard let id = _Store.lookup(name) else { return defaultValue }
        return _withStored(id) { _anyValue($0) as? Value } ?? defaultValue
    }

    // MARK: Writing

    /// Sets `key` to `value` in the current scope (in its own layer, for a
    /// chained scope). Off any task, with no scope open, it writes the
    /// thread's own context.
    ///
    /// ```swift
    /// try TaskContext.set(ContextKey<String>("user"), "ada")
    /// ```
    ///
    /// - Throws: ``ContextError/noScope(key:)`` in a task that is in no
    ///   scope; ``ContextError/allocationFailed``. Nothing changes then.
    @inlinable
    public static func set<Value>(_ key: ContextKey<Value>, _ value: Value) throws(ContextError) {
        let slot = try _writeSlot(key.name)
        try _set(slot, try key._writeID(), _encode(value))
    }

    /// Sets `name` to `value` in the current scope.
    ///
    /// ```swift
    /// try TaskContext.set("request_id", "4bf92f35")
    /// ```
    ///
    /// - Throws: ``ContextError/noScope(key:)``, ``ContextError/allocationFailed``.
    public static func set(_ name: String, _ value: any Sendable) throws(ContextError) {
        let slot = try _writeSlot(name)  // first, so a write with no scope interns nothing
        try _set(slot, try _Store.internForWrite(name), _encode(value))
    }

    /// Removes `key` from the current scope. In a chained scope this also
    /// hides a value inherited from the parent.
    ///
    /// ```swift
    /// try TaskContext.remove(ContextKey<String>("user"))
    /// ```
    ///
    /// - Throws: ``ContextError/noScope(key:)``, ``ContextError/allocationFailed``.
    @inlinable
    public static func remove<Value>(_ key: ContextKey<Value>) throws(ContextError) {
        try _remove(key._readID, name: key.name)
    }

    /// Removes `name` from the current scope.
    ///
    /// ```swift
    /// try TaskContext.remove("request_id")
    /// ```
    ///
    /// - Throws: ``ContextError/noScope(key:)``, ``ContextError/allocationFailed``.
    public static func remove(_ name: String) throws(ContextError) {
        try _remove(_Store.lookup(name), name: name)
    }

    /// Removes every key from the current scope. In a chained scope this
    /// also hides everything inherited (unlike aiotask-context's ChainMap).
    ///
    /// ```swift
    /// try TaskContext.clear()
    /// ```
    ///
    /// - Throws: ``ContextError/noScope(key:)`` with key `"*"` in a task that is in no scope.
    public static func clear() throws(ContextError) {
        let slot = try _writeSlot("*")
        _ = ctxs_slot_clear(slot)
    }

    /// Counters of the store shared by every context in the process.
    ///
    /// ```swift
    /// print(TaskContext.statistics.liveScopes)
    /// ```
    public static var statistics: ContextStatistics {
        var raw = ctxs_statistics()
        ctxs_store_statistics(_Store.raw, &raw)
        return ContextStatistics(
            liveScopes: raw.live_slots, liveNodes: raw.live_nodes, liveValues: raw.live_values,
            liveRoots: raw.live_roots, internedKeys: raw.interned_keys,
            bytesInUse: raw.bytes_in_use, bytesReserved: raw.bytes_reserved, spareScopes: raw.spare_slots)
    }
}

extension TaskContext {
    /// Replaces the current scope's whole context with `context`, in O(1).
    /// For benchmarks, which need to reset a scope between measured writes.
    @_spi(Benchmarks)
    public static func _replaceCurrent(with context: TaskContext) throws(ContextError) {
        let slot = try _writeSlot("*")
        _ = ctxs_slot_replace(slot, context._map.raw)
    }
}
