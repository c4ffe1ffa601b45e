import ContextStore
import CoreMetrics

/// The store's statistics as swift-metrics gauges.
///
/// Each call to ``record()`` reads `TaskContext.statistics` once and
/// records one gauge per figure, under `<prefix>.<name>`:
///
/// | gauge | figure |
/// |---|---|
/// | `contextstore.scopes.live` | `ContextStatistics.liveScopes`: scopes open now |
/// | `contextstore.scopes.spare` | `ContextStatistics.spareScopes`: closed scopes kept for reuse |
/// | `contextstore.trie.nodes` | `ContextStatistics.liveNodes`: trie nodes alive |
/// | `contextstore.values` | `ContextStatistics.liveValues`: values held by live contexts |
/// | `contextstore.bytes.in_use` | `ContextStatistics.bytesInUse` |
/// | `contextstore.bytes.reserved` | `ContextStatistics.bytesReserved` |
///
/// ```swift
/// import ContextStoreMetrics
///
/// let metrics = ContextStoreMetrics()   // the bootstrapped MetricsSystem
/// metrics.record()                      // now, for example from a /metrics handler
/// ```
///
/// To record periodically, run a ``ContextStoreMetricsService`` in the
/// application's `ServiceGroup`.
public struct ContextStoreMetrics: Sendable {
    /// The gauges, made once: a factory may do work per metric it makes.
    private let liveScopes: Gauge
    private let spareScopes: Gauge
    private let trieNodes: Gauge
    private let values: Gauge
    private let bytesInUse: Gauge
    private let bytesReserved: Gauge

    /// Gauges labelled `<prefix>.<name>`, with `dimensions` on each, made by
    /// `factory` (by default the bootstrapped `MetricsSystem.factory`).
    ///
    /// ```swift
    /// let metrics = ContextStoreMetrics(prefix: "api.context", dimensions: [("service", "api")])
    /// ```
    public init(
        prefix: String = "contextstore", dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        func gauge(_ name: String) -> Gauge {
            Gauge(label: "\(prefix).\(name)", dimensions: dimensions, factory: factory)
        }
        liveScopes = gauge("scopes.live")
        spareScopes = gauge("scopes.spare")
        trieNodes = gauge("trie.nodes")
        values = gauge("values")
        bytesInUse = gauge("bytes.in_use")
        bytesReserved = gauge("bytes.reserved")
    }

    /// Records the store's statistics now, one value per gauge, and returns
    /// them.
    ///
    /// ```swift
    /// let recorded = metrics.record()
    /// print(recorded.liveScopes)
    /// ```
    @discardableResult
    public func record() -> ContextStatistics {
        let statistics = TaskContext.statistics
        liveScopes.record(statistics.liveScopes)
        spareScopes.record(statistics.spareScopes)
        trieNodes.record(statistics.liveNodes)
        values.record(statistics.liveValues)
        bytesInUse.record(statistics.bytesInUse)
        bytesReserved.record(statistics.bytesReserved)
        return statistics
    }
}
