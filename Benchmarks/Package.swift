// swift-tools-version:6.1
import PackageDescription

// The benchmark suite: a package of its own, so ContextStore itself depends
// on nothing. Baselines (TaskLocal, ServiceContext, TreeDictionary,
// Dictionary, Task {}) run in the same executables, so every target is a
// ratio measured side by side. `make bench` runs it and writes RESULTS.md.
//
// `name:` pins the identity of the parent package: a clone may live in a
// folder of any name.
let benchmarkPlugin: [Target.PluginUsage] = [.plugin(name: "BenchmarkPlugin", package: "benchmark")]

let package = Package(
    name: "Benchmarks",
    dependencies: [
        .package(name: "ContextStore", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-service-context", exact: "1.5.1"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // What is measured, without any harness: the ordo-one suites and the
        // interleaved ratio runner run the same code.
        .target(
            name: "Workloads",
            dependencies: [
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ]
        ),
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                "Workloads",
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ]
        ),
        .executableTarget(
            name: "Get",
            dependencies: ["BenchmarkSupport"],
            path: "Benchmarks/Get",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "Set",
            dependencies: ["BenchmarkSupport"],
            path: "Benchmarks/Set",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "Request",
            dependencies: ["BenchmarkSupport"],
            path: "Benchmarks/Request",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "Fork",
            dependencies: ["BenchmarkSupport"],
            path: "Benchmarks/Fork",
            plugins: benchmarkPlugin
        ),
        .target(name: "CHeapBytes"),
        .executableTarget(
            name: "Memory",
            dependencies: ["BenchmarkSupport", "CHeapBytes"],
            path: "Benchmarks/Memory",
            plugins: benchmarkPlugin
        ),
        .executableTarget(
            name: "Core",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "CContextStore", package: "ContextStore"),
            ],
            path: "Benchmarks/Core",
            plugins: benchmarkPlugin
        ),
        // The targets: every timed ratio, its two sides interleaved round by
        // round (see Sources/Ratios/main.swift). No harness linked, so no
        // malloc interposer is timed.
        .executableTarget(
            name: "Ratios",
            dependencies: ["Workloads"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Not a benchmark: one workload in a loop, for perf to sample.
        .executableTarget(
            name: "Profile",
            dependencies: ["Workloads"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Not a benchmark: instructions per operation under callgrind
        // (`make callgrind`). ContextStore alone, so no malloc interposer
        // or harness code is counted.
        .executableTarget(
            name: "InstructionCounts",
            dependencies: [
                .product(name: "ContextStore", package: "ContextStore"),
                "Workloads",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
