// swift-tools-version:6.1
import PackageDescription

// The soak test (`make soak`): a package of its own, like Benchmarks/, so
// that it is built only when asked for, always in release, and adds no
// executable product or build time to ContextStore itself or to CI.
//
// `name:` pins the identity of the parent package: a clone may live in a
// folder of any name.
let package = Package(
    name: "Soak",
    platforms: [.macOS(.v15)],  // Synchronization's Atomic and Mutex
    dependencies: [
        .package(name: "ContextStore", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "ContextStoreSoak",
            dependencies: [.product(name: "ContextStore", package: "ContextStore")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
