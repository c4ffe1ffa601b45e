// swift-tools-version:6.1
import PackageDescription

// An example server, kept as a package of its own so that ContextStore does
// not depend on Hummingbird or AsyncHTTPClient. `make example` runs its test.
//
// `name:` pins the identity of the parent package: a clone may live in a
// folder of any name.
let package = Package(
    name: "RequestIDServer",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ContextStore", path: "../.."),
        // Without its default traits Hummingbird skips swift-configuration,
        // which this example does not use and which lengthens the build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", exact: "1.7.3"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .target(
            name: "RequestIDApp",
            dependencies: [
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "ContextStoreTracing", package: "ContextStore"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "RequestIDServer",
            dependencies: [
                "RequestIDApp",
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "RequestIDAppTests",
            dependencies: [
                "RequestIDApp",
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ContextStoreLogging", package: "ContextStore"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
