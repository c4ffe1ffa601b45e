// swift-tools-version:6.1
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
    ],
    traits: [
        .trait(
            name: "Jemalloc",
            description: "Build the jemalloc allocator backend (links libjemalloc; needs libjemalloc-dev)."
        )
    ],
    dependencies: [
        // Build-time only (`make docs`): a command plugin, linked into no product.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0")
    ],
    targets: [
        .target(
            name: "CContextStore",
            cSettings: [
                .define("CTXS_WITH_JEMALLOC", .when(traits: ["Jemalloc"]))
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
        .testTarget(
            name: "CContextStoreTests",
            dependencies: ["CContextStore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "ContextStoreTests",
            dependencies: ["ContextStore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
