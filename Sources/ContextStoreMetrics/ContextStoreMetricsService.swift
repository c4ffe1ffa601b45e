import ServiceLifecycle

/// Records ``ContextStoreMetrics`` periodically, as a swift-service-lifecycle
/// `Service`: once when it starts, then every `interval`, until the service
/// group shuts down gracefully or the task is cancelled; then it returns.
///
/// ```swift
/// import ContextStoreMetrics
/// import ServiceLifecycle
///
/// let group = ServiceGroup(
///     services: [server, ContextStoreMetricsService(interval: .seconds(10))],
///     gracefulShutdownSignals: [.sigterm],
///     logger: logger
/// )
/// try await group.run()
/// ```
public struct ContextStoreMetricsService: Service {
    /// The gauges it records.
    public let metrics: ContextStoreMetrics
    /// The time between two recordings.
    public let interval: Duration

    /// A service recording `metrics` every `interval` (which must be
    /// positive: a zero or negative interval traps when made).
    ///
    /// ```swift
    /// let service = ContextStoreMetricsService(metrics: ContextStoreMetrics(prefix: "api"), interval: .seconds(5))
    /// ```
    public init(metrics: ContextStoreMetrics = ContextStoreMetrics(), interval: Duration = .seconds(10)) {
        precondition(interval > .zero, "ContextStoreMetricsService: the interval must be positive, got \(interval)")
        self.metrics = metrics
        self.interval = interval
    }

    /// Records now and then every `interval`; returns on graceful shutdown
    /// or cancellation (neither is an error for this service).
    public func run() async throws {
        let interval = interval
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            metrics.record()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch is CancellationError {
                return
            }
        }
    }
}
