import CContextStore

extension TaskContext {
    /// The scope to bind for a new scope with `inheritance`: for `.share`,
    /// the bound scope itself when there is one.
    @usableFromInline static func _newScope(_ inheritance: Inheritance) -> _Scope {
        if inheritance == .share {
            let bound = _binding.get()
            if bound.slot != nil { return bound }
            if !_inTask, let thread = ctxs_thread_slot(_Store.raw) {
                return _Scope(adopting: ctxs_slot_retain(thread))
            }
            return _Scope.make(.share, over: nil)
        }
        return _Scope.make(inheritance, over: _readSlot())
    }

    /// Runs `body` in a new context scope that starts from the enclosing
    /// context by `inheritance`, and returns what it returns.
    ///
    /// ```swift
    /// try TaskContext.set(user, "ada")
    /// TaskContext.run(inheriting: .copy) {
    ///     try? TaskContext.set(user, "bob")   // only in this scope
    /// }
    /// TaskContext.get(user)                    // "ada"
    /// ```
    ///
    /// With no enclosing context every mode starts empty. Off any task the
    /// enclosing context is the thread's own.
    @inlinable
    public static func run<R>(inheriting inheritance: Inheritance = .copy, _ body: () throws -> R) rethrows -> R {
        if inheritance == .copy {
            var scope: _Scope? = _Scope.copyForRun()
            defer { _Scope.recycle(&scope) }
            return try Unmanaged.passUnretained(scope!)._withUnsafeGuaranteedRef {
                try _binding.withValue($0, operation: body)
            }
        }
        // Sharing the bound scope: already in it.
        if inheritance == .share, _boundSlot() != nil { return try body() }
        return try _binding.withValue(_newScope(inheritance), operation: body)
    }

    /// Runs `body` in a new context scope that starts from the enclosing
    /// context by `inheritance`, and returns what it returns.
    ///
    /// ```swift
    /// await TaskContext.run {
    ///     try? TaskContext.set(ContextKey<String>("request_id"), UUID().uuidString)
    ///     await handle(request)
    /// }
    /// ```
    ///
    /// Inlinable, like `TaskLocal.withValue` itself: the caller's own async
    /// frame runs the body, with no frame of `run` between them (callgrind,
    /// an empty async body: 3,005 instructions when `run` was a call of its own).
    @inlinable
    public static func run<R>(
        inheriting inheritance: Inheritance = .copy,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        if inheritance == .copy {
            var scope: _Scope? = _Scope.copyForRun()
            defer { _Scope.recycle(&scope) }
            return try await _binding.withValue(scope!, operation: body, isolation: isolation)
        }
        if inheritance == .share, _boundSlot() != nil { return try await body() }
        return try await _binding.withValue(_newScope(inheritance), operation: body, isolation: isolation)
    }

    /// Runs `body` in a new scope that starts from `context`: for callbacks,
    /// futures and Dispatch work that should carry a context along.
    ///
    /// ```swift
    /// let snapshot = TaskContext.current
    /// queue.async {
    ///     TaskContext.run(with: snapshot) { log("in the request's context") }
    /// }
    /// ```
    @inlinable
    public static func run<R>(with context: TaskContext, _ body: () throws -> R) rethrows -> R {
        var scope: _Scope? = _Scope.make(with: context._map.raw)
        defer { _Scope.recycle(&scope) }
        return try Unmanaged.passUnretained(scope!)._withUnsafeGuaranteedRef {
            try _binding.withValue($0, operation: body)
        }
    }

    /// Runs `body` in a new scope that starts from `context`.
    ///
    /// ```swift
    /// let snapshot = TaskContext.current
    /// await TaskContext.run(with: snapshot) { await work() }
    /// ```
    @inlinable
    public static func run<R>(
        with context: TaskContext,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        var scope: _Scope? = _Scope.make(with: context._map.raw)
        defer { _Scope.recycle(&scope) }
        return try await _binding.withValue(scope!, operation: body, isolation: isolation)
    }
}
