import Benchmark
@_exported import Benchmark
import ContextStore
@_exported import ContextStore
import HashTreeCollections
@_exported import HashTreeCollections
import ServiceContextModule
@_exported import ServiceContextModule
import Workloads
@_exported import Workloads

/// Context sizes every size-dependent benchmark runs at.
public let contextSizes = [1, 8, 64, 1024, 65536]

/// One configuration for the whole suite: 1,000 operations per measured
/// iteration, so a sample in nanoseconds reads as picoseconds per operation
/// (the report divides by 1,000), and malloc counts per 1,000 operations.
public func configureSuite() {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 5,
        scalingFactor: .kilo,
        maxDuration: .milliseconds(600),
        maxIterations: 100_000
    )
}

/// The benchmark name the report parses: `operation--subject--n`.
public func name(_ operation: String, _ subject: String, _ n: Int = 0) -> String {
    "\(operation)--\(subject)--\(n)"
}
