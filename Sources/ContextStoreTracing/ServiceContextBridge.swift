import ContextStore
import Instrumentation
import ServiceContextModule

/// Moves values between ContextStore and swift-service-context's
/// `ServiceContext`, the context that swift-distributed-tracing and the
/// libraries built on it (Hummingbird, AsyncHTTPClient, ...) pass around.
///
/// You say which ContextStore key maps to which `ServiceContextKey`; the
/// value types must match, and values are copied as they are.
///
/// ```swift
/// enum RequestIDKey: ServiceContextKey { typealias Value = String }
/// let requestID = ContextKey<String>("request_id")
///
/// let bridge = ServiceContextBridge().mapping(requestID, to: RequestIDKey.self)
///
/// // ContextStore -> ServiceContext, e.g. for a library that reads ServiceContext.current:
/// let serviceContext = bridge.serviceContext()
/// await ServiceContext.withValue(serviceContext) { await client.call() }
///
/// // ServiceContext -> ContextStore, e.g. in a handler that was given one:
/// await bridge.run(from: serviceContext) {
///     TaskContext.get(requestID)  // the value of RequestIDKey
/// }
/// ```
///
/// Besides the mapped keys, a service context can carry a whole ContextStore
/// context as `ServiceContext.taskContext`; the bridge writes it and reads
/// it too (see ``serviceContext(from:merging:)`` and
/// ``taskContext(from:merging:)``).
public struct ServiceContextBridge: Sendable {
    /// One mapping between a ContextStore key and a service-context key.
    struct Mapping: Sendable {
        let contextName: String
        let serviceKeyName: String
        let toService: @Sendable (TaskContext, inout ServiceContext) -> Void
        let toTask: @Sendable (ServiceContext, inout TaskContext) -> Void
    }

    var mappings: [Mapping] = []

    /// A bridge with no mapping: it carries only `ServiceContext.taskContext`.
    ///
    /// ```swift
    /// var bridge = ServiceContextBridge()
    /// ```
    public init() {}

    /// The pairs mapped, as (ContextStore key name, service-context key name), in order.
    ///
    /// ```swift
    /// ServiceContextBridge().mapping(requestID, to: RequestIDKey.self).mappedNames
    /// // [("request_id", "RequestIDKey")]
    /// ```
    public var mappedNames: [(contextName: String, serviceKeyName: String)] {
        mappings.map { ($0.contextName, $0.serviceKeyName) }
    }

    /// Maps `key` to `serviceKey` in both directions. A key mapped twice is
    /// copied twice, in the order mapped, so the last mapping wins.
    ///
    /// ```swift
    /// var bridge = ServiceContextBridge()
    /// bridge.map(requestID, to: RequestIDKey.self)
    /// ```
    public mutating func map<Value, Key: ServiceContextKey>(
        _ key: ContextKey<Value>,
        to serviceKey: Key.Type
    ) where Key.Value == Value {
        mappings.append(
            Mapping(
                contextName: key.name,
                serviceKeyName: serviceKey.name,
                toService: { taskContext, serviceContext in
                    if let value = taskContext[key] { serviceContext[serviceKey] = value }
                },
                toTask: { serviceContext, taskContext in
                    if let value = serviceContext[serviceKey] { taskContext[key] = value }
                }))
    }

    /// A copy of this bridge with `key` mapped to `serviceKey`.
    ///
    /// ```swift
    /// let bridge = ServiceContextBridge()
    ///     .mapping(requestID, to: RequestIDKey.self)
    ///     .mapping(userID, to: UserIDKey.self)
    /// ```
    public func mapping<Value, Key: ServiceContextKey>(
        _ key: ContextKey<Value>,
        to serviceKey: Key.Type
    ) -> ServiceContextBridge where Key.Value == Value {
        var copy = self
        copy.map(key, to: serviceKey)
        return copy
    }

    /// `base` with each mapped key that `context` holds set to its value,
    /// and `context` itself carried as `taskContext`.
    ///
    /// ```swift
    /// let serviceContext = bridge.serviceContext()   // from TaskContext.current
    /// serviceContext[RequestIDKey.self]              // the current request id
    /// ```
    public func serviceContext(
        from context: TaskContext = .current,
        merging base: ServiceContext = .topLevel
    ) -> ServiceContext {
        var serviceContext = base
        for mapping in mappings { mapping.toService(context, &serviceContext) }
        serviceContext.taskContext = context
        return serviceContext
    }

    /// `base` with everything `serviceContext.taskContext` holds set over
    /// it, then each mapped key that `serviceContext` holds.
    ///
    /// ```swift
    /// let context = bridge.taskContext(from: serviceContext)
    /// context[requestID]  // the value of RequestIDKey
    /// ```
    public func taskContext(
        from serviceContext: ServiceContext,
        merging base: TaskContext = .current
    ) -> TaskContext {
        var context = base
        if let carried = serviceContext.taskContext {
            if context.isEmpty {
                context = carried  // O(1), and values keep their static types
            } else {
                for (name, value) in carried.entries { context[name] = value }
            }
        }
        for mapping in mappings { mapping.toTask(serviceContext, &context) }
        return context
    }

    /// Runs `body` in a new scope made by ``taskContext(from:merging:)``
    /// from `serviceContext` over a copy of the current context.
    ///
    /// ```swift
    /// bridge.run(from: serviceContext) {
    ///     logger.info("in the caller's context")
    /// }
    /// ```
    public func run<R>(from serviceContext: ServiceContext, _ body: () throws -> R) rethrows -> R {
        try TaskContext.run(with: taskContext(from: serviceContext), body)
    }

    /// Runs `body` in a new scope made by ``taskContext(from:merging:)``
    /// from `serviceContext` over a copy of the current context.
    ///
    /// ```swift
    /// try await bridge.run(from: ServiceContext.current ?? .topLevel) {
    ///     try await handle(request)
    /// }
    /// ```
    public func run<R>(
        from serviceContext: ServiceContext,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async rethrows -> R {
        try await TaskContext.run(with: taskContext(from: serviceContext), isolation: isolation, body)
    }
}
