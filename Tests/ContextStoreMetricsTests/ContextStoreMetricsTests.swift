import ContextStore
import ContextStoreMetrics
import ContextStoreTestSupport
import CoreMetrics
import MetricsTestKit
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

// Statistics are global to the process, so every test here holds the
// global store lock (no other suite opens scopes meanwhile).

private let names = ["scopes.live", "scopes.spare", "trie.nodes", "values", "bytes.in_use", "bytes.reserved"]

/// The last value each gauge recorded, by name (without the prefix).
private func recorded(_ metrics: TestMetrics, prefix: String = "contextstore", dimensions: [(String, String)] = [])
    throws -> [String: Double]
{
    var values: [String: Double] = [:]
    for name in names {
        let gauge = try metrics.expectGauge("\(prefix).\(name)", dimensions)
        guard let value = gauge.lastValue else { throw NothingRecorded(gauge: name) }
        values[name] = value
    }
    return values
}

/// A gauge that recorded no value.
private struct NothingRecorded: Error, CustomStringConvertible {
    let gauge: String
    var description: String { "\(gauge) recorded nothing" }
}

private func expected(_ statistics: ContextStatistics) -> [String: Double] {
    [
        "scopes.live": Double(statistics.liveScopes), "scopes.spare": Double(statistics.spareScopes),
        "trie.nodes": Double(statistics.liveNodes), "values": Double(statistics.liveValues),
        "bytes.in_use": Double(statistics.bytesInUse), "bytes.reserved": Double(statistics.bytesReserved),
    ]
}

@Suite("ContextStoreMetrics", .exclusiveGlobalStore, .serialized)
struct ContextStoreMetricsTests {
    @Test func eachGaugeRecordsItsFigure() throws {
        let metrics = TestMetrics()
        let recorder = ContextStoreMetrics(factory: metrics)
        let statistics = recorder.record()
        #expect(try recorded(metrics) == expected(statistics))
    }

    @Test func theGaugesMoveWhenScopesOpenAndClose() throws {
        let metrics = TestMetrics()
        let recorder = ContextStoreMetrics(factory: metrics)
        let key = ContextKey<[Int]>("metrics.payload")
        let outside = recorder.record()
        let outsideRecorded = try recorded(metrics)
        var inside = outside
        try TaskContext.run {
            try TaskContext.set(key, [1, 2, 3])
            try TaskContext.run(inheriting: .chain) {
                try TaskContext.set(ContextKey<Int>("metrics.n"), 7)
                inside = recorder.record()
            }
        }
        let insideRecorded = try metrics.expectGauge("contextstore.scopes.live").values.last
        #expect(insideRecorded == Double(inside.liveScopes))
        #expect(inside.liveScopes == outside.liveScopes + 2)
        #expect(inside.liveValues == outside.liveValues + 2)
        #expect(inside.bytesInUse > outside.bytesInUse)
        #expect(try metrics.expectGauge("contextstore.values").values.last == Double(inside.liveValues))

        // Closed again: back to where it started.
        let after = recorder.record()
        #expect(after.liveScopes == outside.liveScopes)
        #expect(after.liveValues == outside.liveValues)
        #expect(try recorded(metrics)["scopes.live"] == outsideRecorded["scopes.live"])
        #expect(try recorded(metrics)["values"] == outsideRecorded["values"])
    }

    @Test func labelsTakeThePrefixAndDimensions() throws {
        let metrics = TestMetrics()
        let dimensions = [("service", "api")]
        let statistics = ContextStoreMetrics(prefix: "api.context", dimensions: dimensions, factory: metrics).record()
        #expect(try recorded(metrics, prefix: "api.context", dimensions: dimensions) == expected(statistics))
        #expect(throws: (any Error).self) { try metrics.expectGauge("contextstore.scopes.live") }
    }

    @Test func theServiceRecordsPeriodicallyAndStopsOnGracefulShutdown() async throws {
        let metrics = TestMetrics()
        let service = ContextStoreMetricsService(
            metrics: ContextStoreMetrics(factory: metrics), interval: .milliseconds(5))
        try await testGracefulShutdown { trigger in
            let running = Task { try await service.run() }
            // At least three recordings: the first, and two after an interval.
            let gauge = try await waitForGauge(metrics, "contextstore.scopes.live")
            while gauge.values.count < 3 { try await Task.sleep(for: .milliseconds(1)) }
            trigger.triggerGracefulShutdown()
            try await running.value  // returns, without an error
            let count = gauge.values.count
            try await Task.sleep(for: .milliseconds(30))
            #expect(gauge.values.count == count, "recorded after shutdown")
        }
    }

    @Test func theServiceStopsWhenCancelled() async throws {
        let metrics = TestMetrics()
        let service = ContextStoreMetricsService(
            metrics: ContextStoreMetrics(factory: metrics), interval: .seconds(3600))
        let running = Task { try await service.run() }
        let gauge = try await waitForGauge(metrics, "contextstore.values")
        #expect(gauge.values.count == 1)  // recorded once at start, then sleeping
        running.cancel()
        try await running.value
    }

    /// The gauge once the service has made it (its first recording).
    private func waitForGauge(_ metrics: TestMetrics, _ label: String) async throws -> TestRecorder {
        for _ in 0..<5_000 {
            if let gauge = try? metrics.expectGauge(label), !gauge.values.isEmpty { return gauge }
            try await Task.sleep(for: .milliseconds(1))
        }
        Issue.record("\(label) was never recorded")
        throw CancellationError()
    }
}
