import BenchmarkSupport

/// The request-shaped workload (`Workloads/Request.swift`) four ways, for
/// the tables: ns and mallocs per request. The targets compare them in
/// `Ratios`, interleaved.
let benchmarks: @Sendable () -> Void = {
    configureSuite()
    Request.bootstrapLogging()
    let requests = Benchmark.Configuration(scalingFactor: .one)
    let variants: [(String, @Sendable () async -> Void)] = [
        ("ContextStore", { await Request.contextStore() }),
        ("StructTaskLocal", { await Request.structTaskLocal() }),
        ("ServiceContext", Request.serviceContext),
        ("ContextStoreLogging", Request.contextStoreLogging),
        ("SwiftLogTaskLocal", Request.swiftLogTaskLocal),
    ]
    for (subject, request) in variants {
        Benchmark(name("request", subject), configuration: requests) { benchmark in
            for _ in benchmark.scaledIterations { await request() }
        }
    }
}
