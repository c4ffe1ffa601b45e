import CContextStore

/// A task's context: a persistent map from key names to values, plus the
/// static API that reads and writes the context of the code that runs.
///
/// As a value, a `TaskContext` is an immutable snapshot. Copying it is O(1)
/// however many keys it holds, and writing to a copy (`ctx[key] = value`)
/// makes a new version that shares all but one path with the old one.
///
/// ```swift
/// let user = ContextKey<String>("user")
///
/// try await TaskContext.run {
///     try TaskContext.set(user, "ada")
///     let snapshot = TaskContext.current     // O(1)
///     try TaskContext.set(user, "bob")
///     print(snapshot[user] ?? "-")           // "ada"
///     print(TaskContext.get(user) ?? "-")    // "bob"
/// }
/// ```
public struct TaskContext: Sendable {
    @usableFromInline var _map: _Map

    @usableFromInline init(_map: _Map) {
        self._map = _map
    }

    /// An empty context.
    ///
    /// ```swift
    /// var ctx = TaskContext()
    /// ctx[ContextKey<Int>("attempt")] = 1
    /// ```
    public init() {
        self._map = .empty
    }

    /// The value under `key`, or nil if there is none or it is not a `Value`.
    /// Setting a value is a persistent insert; setting nil removes the key.
    ///
    /// ```swift
    /// var ctx = TaskContext()
    /// ctx[ContextKey<String>("locale")] = "fr_FR"
    /// ctx[ContextKey<String>("locale")]  // "fr_FR"
    /// ```
    ///
    /// The setter traps if the store cannot allocate, as Swift's own
    /// collections do; ``setting(_:_:)-(ContextKey<Value>,_)`` reports it as an error instead.
    ///
    /// Inlinable, as `TaskContext.get` is: a caller in another module then
    /// reads with its own `Value`, not through the generic entry point,
    /// which looks up `Value`'s metadata at run time on every read (perf:
    /// ContextStoreLogging's metadata for four keys read this way spent
    /// half its time in `swift_getGenericMetadata` and the dynamic cast).
    @inlinable
    public subscript<Value>(key: ContextKey<Value>) -> Value? {
        get {
            guard let id = key._readID, let stored = _map.stored(for: id) else { return nil }
            return withExtendedLifetime(_map) { _decode(stored, as: Value.self) }
        }
        set {
            do {
                self = try newValue.map { try setting(key, $0) } ?? removing(key)
            } catch {
                fatalError("ContextStore: \(error)")
            }
        }
    }

    /// The value stored under `name`, whatever its type, or nil.
    /// Setting a value is a persistent insert; setting nil removes the name.
    ///
    /// ```swift
    /// var ctx = TaskContext()
    /// ctx["request_id"] = "4bf92f35"
    /// ctx["request_id"] as? String  // "4bf92f35"
    /// ```
    public subscript(name: String) -> (any Sendable)? {
        get {
            guard let id = _Store.lookup(name), let stored = _map.stored(for: id) else { return nil }
            return withExtendedLifetime(_map) { () -> (any Sendable)? in _anyValue(stored) }
        }
        set {
            do {
                if let newValue {
                    self = try setting(name, newValue)
                } else {
                    self = try removing(name)
                }
            } catch {
                fatalError("ContextStore: \(error)")
            }
        }
    }

    /// A copy of this context with `key` set to `value`.
    ///
    /// ```swift
    /// let ctx = try TaskContext().setting(ContextKey<Int>("attempt"), 2)
    /// ```
    ///
    /// - Throws: ``ContextError/allocationFailed``; `self` is unchanged.
    public func setting<Value>(_ key: ContextKey<Value>, _ value: Value) throws(ContextError) -> TaskContext {
        TaskContext(_map: try _map.setting(try key._writeID(), _encode(value)))
    }

    /// A copy of this context with `name` set to `value`.
    ///
    /// ```swift
    /// let ctx = try TaskContext().setting("tenant", "acme")
    /// ```
    ///
    /// - Throws: ``ContextError/allocationFailed``; `self` is unchanged.
    public func setting(_ name: String, _ value: any Sendable) throws(ContextError) -> TaskContext {
        let id = try _Store.internForWrite(name)
        return TaskContext(_map: try _map.setting(id, _encode(value)))
    }

    /// A copy of this context without `key`.
    ///
    /// ```swift
    /// let smaller = try ctx.removing(ContextKey<Int>("attempt"))
    /// ```
    ///
    /// - Throws: ``ContextError/allocationFailed``; `self` is unchanged.
    public func removing<Value>(_ key: ContextKey<Value>) throws(ContextError) -> TaskContext {
        guard let id = key._readID else { return self }
        return TaskContext(_map: try _map.removing(id))
    }

    /// A copy of this context without `name`.
    ///
    /// ```swift
    /// let smaller = try ctx.removing("tenant")
    /// ```
    ///
    /// - Throws: ``ContextError/allocationFailed``; `self` is unchanged.
    public func removing(_ name: String) throws(ContextError) -> TaskContext {
        guard let id = _Store.lookup(name) else { return self }
        return TaskContext(_map: try _map.removing(id))
    }

    /// The number of keys. O(1).
    ///
    /// ```swift
    /// TaskContext().count  // 0
    /// ```
    public var count: Int { _map.count }

    /// Whether the context holds no key.
    ///
    /// ```swift
    /// TaskContext().isEmpty  // true
    /// ```
    public var isEmpty: Bool { _map.count == 0 }

    /// The names of the keys present, sorted. Each name appears once, in its
    /// NFC spelling, however it was spelled when it was set.
    ///
    /// ```swift
    /// var ctx = TaskContext()
    /// ctx["b"] = 2
    /// ctx["a"] = 1
    /// ctx.names  // ["a", "b"]
    /// ```
    public var names: [String] {
        var names: [String] = []
        names.reserveCapacity(count)
        // `_Map.forEach` is the trie's own visitor; `_Map` is no Sequence.
        // swift-format-ignore: ReplaceForEachWithForLoop
        _map.forEach { id, _ in
            if let name = _Store.name(of: id) { names.append(name) }
        }
        return names.sorted()
    }

    /// Every name and value, sorted by name.
    ///
    /// ```swift
    /// for (name, value) in TaskContext.current.entries { print(name, value) }
    /// ```
    public var entries: [(name: String, value: any Sendable)] {
        var entries: [(name: String, value: any Sendable)] = []
        entries.reserveCapacity(count)
        // swift-format-ignore: ReplaceForEachWithForLoop
        _map.forEach { id, stored in
            if let name = _Store.name(of: id) { entries.append((name, _anyValue(stored))) }
        }
        return entries.sorted { $0.name < $1.name }
    }
}

extension TaskContext: CustomStringConvertible {
    /// The names and values, for logs and debugging.
    ///
    /// ```swift
    /// print(TaskContext.current)  // TaskContext(["request_id": "4bf92f35"])
    /// ```
    public var description: String {
        let body = entries.map { "\(String(reflecting: $0.name)): \(String(reflecting: $0.value))" }
        return "TaskContext([\(body.isEmpty ? ":" : body.joined(separator: ", "))])"
    }
}
