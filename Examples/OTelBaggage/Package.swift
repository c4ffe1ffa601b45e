// swift-tools-version:6.1
import PackageDescription

// An example service that runs swift-otel's tracer (W3C trace context) and
// ContextStore's W3CBaggagePropagator (W3C baggage) side by side in one
// MultiplexInstrument. A package of its own, so that ContextStore does not
// depend on swift-otel, Hummingbird or AsyncHTTPClient; `make example-otel`
// runs its test. An application: every dependency is pinned exactly.
//
// `name:` pins the identity of the parent package: a clone may live in a
// folder of any name.
let package = Package(
    name: "OTelBaggage",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ContextStore", path: "../.."),
        // Only the OTLP/HTTP exporter: the default traits add OTLP/gRPC,
        // which builds gRPC and HTTP/2 for nothing here.
        .package(url: "https://github.com/swift-otel/swift-otel", exact: "1.6.0", traits: ["OTLPHTTP"]),
        // Without its default traits Hummingbird skips swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", exact: "1.7.3"),
        .package(url: "https://github.com/apple/swift-service-context", exact: "1.5.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        .target(
            name: "OTelBaggageApp",
            dependencies: [
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "ContextStoreTracing", package: "ContextStore"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "OTelBaggageServer",
            dependencies: [
                "OTelBaggageApp",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "OTelBaggageAppTests",
            dependencies: [
                "OTelBaggageApp",
                .product(name: "ContextStore", package: "ContextStore"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
