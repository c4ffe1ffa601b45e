// swift-tools-version:6.1
import PackageDescription

// A Vapor 4 example, kept as a package of its own so that ContextStore does
// not depend on Vapor. `make example-vapor` runs its test.
//
// `Billing` stands for a library an app calls into (a database driver, an
// HTTP client wrapper): it depends on ContextStore and swift-log only, never
// on Vapor, and reads the request id from the task's context.
//
// `name:` pins the identity of the parent package: a clone may live in a
// folder of any name.
let package = Package(
    name: "VaporRequestID",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ContextStore", path: "../.."),
        .package(url: "https://github.com/vapor/vapor", exact: "4.122.3"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
    ],
    targets: [
        .target(
            name: "Billing",
            dependencies: [
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "App",
            dependencies: [
                "Billing",
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "Run",
            dependencies: [
                "App",
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App",
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "VaporTesting", package: "vapor"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
