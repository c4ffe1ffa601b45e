import CContextStore
import CContextStoreSPI

// The one place that relies on a Swift runtime entry point that is exported
// but not public API: `swift_task_localValueGet`, which `TaskLocal.get()`
// itself calls. Given the TaskLocal object's address (its key), it returns a
// pointer to the value bound in the current task (or, off any task, on the
// current thread), or nil when nothing is bound.
//
// Reading through it lets the hot path borrow the bound `_Scope` instead of
// retaining and releasing it: `TaskLocal.get()` of a class reference costs a
// retain and a release (Benchmarks/RESULTS.md: a `@TaskLocal` class read
// against an Int read, which needs neither), and this costs neither. The
// borrow is sound because the binding keeps the scope alive and cannot be
// popped while this synchronous code runs on the task.
//
// `TaskLocalAccessTests` checks on every run that this agrees with
// `TaskLocal.get()` bound, unbound, nested and off any task; if a runtime
// ever changes the layout, that test fails rather than a user's request.

// The runtime's own name, so that the declaration reads as what it binds.
// swift-format-ignore: AlwaysUseLowerCamelCase
@usableFromInline
@_silgen_name("swift_task_localValueGet")
func _swift_task_localValueGet(_ key: UnsafeRawPointer) -> UnsafeMutableRawPointer?

/// The C slot of the scope bound to `TaskContext._binding` here, borrowed;
/// nil when none is bound.
@inlinable @inline(__always)
func _boundSlot() -> OpaquePointer? {
    // The key is published by `TaskContext._binding`'s initialiser; before
    // that nothing can be bound. Reading it from C skips Swift's lazy-global
    // check on this hot path.
    guard let key = ctxs_swift_binding_key_get(), let stored = _swift_task_localValueGet(key) else {
        return nil
    }
    // The binding stores an `_Scope`: a single object reference, whose slot
    // is nil for `_Scope.none`.
    let object = stored.load(as: UnsafeRawPointer.self)
    return Unmanaged<_Scope>.fromOpaque(object)._withUnsafeGuaranteedRef { $0.slot }
}

/// Runs `body` with `scope` bound to `TaskContext._binding`, as
/// `_binding.withValue(scope, operation: body)` does, except that the binding
/// takes over the caller's reference to `scope` instead of adding one of its
/// own: for a scope made only to be bound, one atomic increment and one
/// decrement fewer. The push and pop (CContextStoreSPI.h) are the runtime
/// calls that `withValue` itself makes. (Ratios, `task-copy` ÷ its floor,
/// four interleaved runs of 21 rounds on one CPU: 1.055, 1.072, 1.049,
/// 1.053 with `withValue`; 1.038, 1.036, 1.044, 1.054 with this.)
@inlinable @inline(__always)
func _withBinding<R>(_ scope: consuming _Scope, _ body: () throws -> R) rethrows -> R {
    // Reading `_binding` runs its initialiser, which publishes the key.
    let key = UnsafeRawPointer(Unmanaged.passUnretained(TaskContext._binding).toOpaque())
    // The push moves the reference out of `object`, which therefore holds it
    // as a raw pointer: the caller's +1, handed over, not released here.
    var object = Unmanaged.passRetained(consume scope).toOpaque()
    let type = unsafeBitCast(_Scope.self as AnyClass, to: UnsafeRawPointer.self)
    withUnsafeMutablePointer(to: &object) { ctxs_swift_bind_push(key, $0, type) }
    defer { ctxs_swift_bind_pop() }
    return try body()
}
