// swift-tools-version:6.1
// ContextStore. Copyright (c) 2026 the ContextStore authors.
// Licensed under the Apache License, Version 2.0: see LICENSE.
import PackageDescription

// The `ContextStore` product depends on no other package. The jemalloc
// backend is opt-in (trait `Jemalloc`): libjemalloc exports unprefixed
// malloc symbols, so linking it would replace the allocator of every
// process that links ContextStore.
let package = Package(
    name: "ContextStore",
    products: [
        .library(name: "ContextStore", targets: ["ContextStore"]),
        // The C core on its own, for C callers and the core benchmarks.
        .library(name: "CContextStore", targets: ["CContextStore"]),
        // Integrations: products of their own, so that `ContextStore` stays
        // free of dependencies for those who use neither.
        .library(name: "ContextStoreLogging", targets: ["ContextStoreLogging"]),
        .library(name: "ContextStoreTracing", targets: ["ContextStoreTracing"]),
        .library(name: "ContextStoreMetrics", targets: ["ContextStoreMetrics"]),
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Build the jemalloc allocator backend (links libjemalloc; needs libjemalloc-dev)."
        )
    ],
    // Lowest versions each integration builds and passes its tests with
    // (CONTRIBUTING.md says how they were checked): swift-log 1.14.0 has the
    // task-local logger the tests combine with the provider (the provider
    // itself needs 1.5.0), swift-service-context 1.3.0 has
    // `ServiceContextKey.name`, swift-metrics 2.7.0 makes a gauge from a
    // given factory, swift-service-lifecycle 2.5.0 has
    // `cancelWhenGracefulShutdown`.
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-service-context", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.7.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.5.0"),
        // Build-time only (`make docs`): a command plugin, linked into no product.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C defines the core reads (see Sources/CContextStore):
        // - CTXS_CHECK_INVARIANTS: compiles in the trie's checker and shape
        //   introspection (hamt_debug.c: ctxs_map_check, ctxs_map_node_count,
        //   ...) and checks every map of up to 1,024 entries that a write
        //   makes. On in debug builds (the tests use them), off in release.
        // - CTXS_DEFAULT_BACKEND: the allocator behind CTXS_BACKEND_DEFAULT,
        //   a ctxs_backend value; unset, the arena (arena.c says why).
        // - CTXS_WITH_JEMALLOC: the jemalloc backend (trait `Jemalloc`).
        .target(
            name: "CContextStore",
            cSettings: [
                .define("CTXS_WITH_JEMALLOC", .when(traits: ["Jemalloc"])),
                .define("CTXS_CHECK_INVARIANTS", .when(configuration: .debug)),
            ],
            linkerSettings: [
                .linkedLibrary("pthread"),
                .linkedLibrary("jemalloc", .when(traits: ["Jemalloc"])),
            ]
        ),
        .target(
            name: "ContextStore",
            dependencies: ["CContextStore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "ContextStoreLogging",
            dependencies: [
                "ContextStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "ContextStoreTracing",
            dependencies: [
                "ContextStore",
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "ContextStoreMetrics",
            dependencies: [
                "ContextStore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Shared by the Swift test targets: see GlobalStoreLock.
        .target(
            name: "ContextStoreTestSupport",
            path: "Tests/ContextStoreTestSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "CContextStoreTests",
            dependencies: ["CContextStore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "ContextStoreTests",
            dependencies: ["ContextStore", "ContextStoreTestSupport"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "ContextStoreLoggingTests",
            dependencies: [
                "ContextStoreLogging",
                "ContextStoreTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "ContextStoreTracingTests",
            dependencies: [
                "ContextStoreTracing",
                "ContextStoreTestSupport",
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "ContextStoreMetricsTests",
            dependencies: [
                "ContextStoreMetrics",
                "ContextStoreTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
