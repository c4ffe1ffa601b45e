/// Why a context operation failed. When one is thrown, nothing was changed.
///
/// ```swift
/// do {
///     try TaskContext.set(requestID, "abc")
/// } catch .noScope(let key) {
///     print("no context scope is open to hold \(key)")
/// } catch {
///     print("out of memory")
/// }
/// ```
public enum ContextError: Error, Equatable, Sendable {
    /// The code runs in a task that is in no context scope, so there is no
    /// context to write to. Open one with ``TaskContext/run(inheriting:_:)-(_,()->R)``
    /// or start the task with `Task(inheriting:)`.
    ///
    /// Also thrown to a value's `deinit` that writes while the store is
    /// releasing it and no scope is bound there (at a task's end, say): the
    /// thread it happens to run on lends it no context.
    ///
    /// `key` names the key that was being written, or `"*"` for ``TaskContext/clear()``.
    case noScope(key: String)

    /// The store could not allocate memory. The context is unchanged.
    case allocationFailed
}

extension ContextError: CustomStringConvertible {
    /// A sentence that says what went wrong and how to fix it.
    ///
    /// ```swift
    /// print(ContextError.noScope(key: "user"))
    /// // no context scope is open to write "user": wrap the code in TaskContext.run { … } …
    /// ```
    public var description: String {
        switch self {
        case .noScope(let key):
            return "no context scope is open to write \"\(key)\": wrap the code in TaskContext.run { … } "
                + "or start its task with Task(inheriting:)"
        case .allocationFailed:
            return "the context store could not allocate memory; the context is unchanged"
        }
    }
}
