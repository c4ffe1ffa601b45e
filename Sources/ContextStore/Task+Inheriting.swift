extension Task where Failure == Never {
    /// Starts a task in a context scope of its own, made from the current
    /// context by `inheritance` now, when the task is created, not when it
    /// first runs.
    ///
    /// ```swift
    /// try TaskContext.set(requestID, "r1")
    /// let child = Task(inheriting: .copy) {
    ///     TaskContext.get(requestID)   // "r1", even if the parent changes it meanwhile
    /// }
    /// ```
    ///
    /// A plain `Task { }` shares its parent's scope; `Task.detached` is in none.
    @discardableResult @inlinable
    public init(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async -> Success
    ) {
        // An unstructured task copies the task-local bindings in place when
        // it is created, so binding the new scope around its creation puts
        // the child in it: no wrapping closure, no extra executor hop.
        let scope = TaskContext._newScope(inheritance)
        // Safe: `operation` was sent to this initialiser and is sent on to
        // the task exactly once; nothing else here touches it.
        nonisolated(unsafe) let operation = operation
        self = _withBinding(scope) { Task(priority: priority, operation: operation) }
    }
}

extension Task where Failure == any Error {
    /// Starts a throwing task in a context scope of its own, made from the
    /// current context by `inheritance` when the task is created.
    ///
    /// ```swift
    /// let child = Task(inheriting: .chain) {
    ///     try TaskContext.set(ContextKey<Int>("attempt"), 2)   // stays in the child's layer
    ///     return try await fetch()
    /// }
    /// ```
    @discardableResult @inlinable
    public init(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async throws -> Success
    ) {
        let scope = TaskContext._newScope(inheritance)
        // Safe: `operation` was sent to this initialiser and is sent on to
        // the task exactly once; nothing else here touches it.
        nonisolated(unsafe) let operation = operation
        self = _withBinding(scope) { Task(priority: priority, operation: operation) }
    }
}
