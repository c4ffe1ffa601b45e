extension TaskGroup {
    /// Adds a child task in a context scope of its own, made from the
    /// current context by `inheritance` when the child is added.
    ///
    /// ```swift
    /// await withTaskGroup(of: Void.self) { group in
    ///     group.addTask(inheriting: .copy) { try? TaskContext.set(step, 1) }
    /// }
    /// ```
    public mutating func addTask(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async -> ChildTaskResult
    ) {
        let scope = TaskContext._newScope(inheritance)
        addTask(priority: priority) {
            await TaskContext._binding.withValue(scope) { await operation() }
        }
    }
}

extension ThrowingTaskGroup {
    /// Adds a throwing child task in a context scope of its own, made from
    /// the current context by `inheritance` when the child is added.
    ///
    /// ```swift
    /// try await withThrowingTaskGroup(of: Int.self) { group in
    ///     group.addTask(inheriting: .chain) { try await load() }
    ///     return try await group.reduce(0, +)
    /// }
    /// ```
    public mutating func addTask(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async throws -> ChildTaskResult
    ) {
        let scope = TaskContext._newScope(inheritance)
        addTask(priority: priority) {
            try await TaskContext._binding.withValue(scope) { try await operation() }
        }
    }
}

extension DiscardingTaskGroup {
    /// Adds a child task in a context scope of its own, made from the
    /// current context by `inheritance` when the child is added.
    ///
    /// ```swift
    /// await withDiscardingTaskGroup { group in
    ///     group.addTask(inheriting: .copy) { await serve(connection) }
    /// }
    /// ```
    public mutating func addTask(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async -> Void
    ) {
        let scope = TaskContext._newScope(inheritance)
        addTask(priority: priority) {
            await TaskContext._binding.withValue(scope) { await operation() }
        }
    }
}

extension ThrowingDiscardingTaskGroup {
    /// Adds a throwing child task in a context scope of its own, made from
    /// the current context by `inheritance` when the child is added.
    ///
    /// ```swift
    /// try await withThrowingDiscardingTaskGroup { group in
    ///     group.addTask(inheriting: .copy) { try await serve(connection) }
    /// }
    /// ```
    public mutating func addTask(
        inheriting inheritance: Inheritance,
        priority: TaskPriority? = nil,
        operation: sending @escaping @isolated(any) () async throws -> Void
    ) {
        let scope = TaskContext._newScope(inheritance)
        addTask(priority: priority) {
            try await TaskContext._binding.withValue(scope) { try await operation() }
        }
    }
}
