import ContextStore
import Instrumentation
import ServiceContextModule

extension ServiceContext {
    /// A ContextStore context carried inside this service context: where
    /// ``W3CBaggagePropagator`` writes what it extracts and reads what it
    /// injects, and what ``ServiceContextBridge`` adds to a scope it opens.
    ///
    /// ```swift
    /// var serviceContext = ServiceContext.topLevel
    /// serviceContext.taskContext = TaskContext.current   // O(1)
    /// ```
    public var taskContext: TaskContext? {
        get { self[_TaskContextKey.self] }
        set { self[_TaskContextKey.self] = newValue }
    }
}

/// The service-context key behind `ServiceContext.taskContext`.
enum _TaskContextKey: ServiceContextKey {
    typealias Value = TaskContext
    static var nameOverride: String? { "contextstore.task-context" }
}
