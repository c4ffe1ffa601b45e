import AsyncHTTPClient
import ContextStoreTracing
import Foundation
import Instrumentation
import OTel
import ServiceLifecycle
import Tracing

// swift-otel 1.6.0 has no W3C Baggage propagator: `OTel.Configuration.Propagator.baggage`
// is unavailable in code, and `baggage` in the OTEL_PROPAGATORS environment
// variable (the OpenTelemetry default is `tracecontext,baggage`) makes
// `OTel.makeTracingBackend` call `fatalError("Swift OTel does not support the
// W3C Baggage propagator")`. So swift-otel's tracer carries `traceparent`
// alone and ContextStore's `W3CBaggagePropagator` carries `baggage`, the two
// side by side in one `MultiplexInstrument`.

extension OTel.Configuration {
    /// swift-otel's configuration for this service: traces only, exported
    /// as OTLP/HTTP with JSON bodies, with W3C trace context as the only
    /// propagator.
    ///
    /// - Parameters:
    ///   - tracesEndpoint: the full URL spans are posted to, such as
    ///     `http://127.0.0.1:4318/v1/traces`; nil for swift-otel's default
    ///     (`http://localhost:4318/v1/traces`).
    ///   - scheduleDelay: how long the batch span processor waits between
    ///     exports (swift-otel's default is 5 seconds). Every span left is
    ///     exported at graceful shutdown anyway.
    ///
    /// The `OTEL_*` environment variables override these, as swift-otel reads
    /// them in `OTel.makeTracingBackend(configuration:)`.
    public static func otelBaggage(
        serviceName: String,
        tracesEndpoint: String? = nil,
        scheduleDelay: Duration = .seconds(5)
    ) -> Self {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.propagators = [.traceContext]  // never baggage: swift-otel 1.6.0 stops the process on it
        configuration.traces.otlpExporter.protocol = .httpJSON
        if let tracesEndpoint { configuration.traces.otlpExporter.endpoint = tracesEndpoint }
        configuration.traces.batchSpanProcessor.scheduleDelay = scheduleDelay
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        return configuration
    }
}

/// Why ``bootstrapTracing(configuration:environment:)`` did not start the tracing.
public struct UnsupportedPropagatorError: Error, CustomStringConvertible {
    /// The `OTEL_PROPAGATORS` entry swift-otel 1.6.0 would stop the process on.
    public let propagator: String

    /// What went wrong, and what to set instead.
    public var description: String {
        "OTEL_PROPAGATORS names \"\(propagator)\", which swift-otel 1.6.0 does not support: it would stop the "
            + "process (fatalError). Set OTEL_PROPAGATORS=tracecontext; W3CBaggagePropagator carries baggage."
    }
}

/// The names swift-otel 1.6.0 accepts in `OTEL_PROPAGATORS` (the raw values
/// of its `OTel.Configuration.Propagator.Backing`), and whether it can run each.
private let otelPropagatorNames: [String: Bool] = [
    "tracecontext": true, "none": true,
    "baggage": false, "b3": false, "b3multi": false, "jaeger": false, "xray": false, "otTrace": false,
]

/// The first entry of an `OTEL_PROPAGATORS` value that swift-otel 1.6.0
/// would stop the process on, or nil when it would start.
///
/// It reads the value as swift-otel does: entries split at `,` and matched
/// exactly (empty entries dropped, no trimming, case-sensitive); a value with any unknown entry is
/// ignored whole (swift-otel logs a warning and keeps the configured
/// propagators); entries are then taken in order, and `none` ends the list.
///
/// ```swift
/// fatalPropagator(inOTelPropagators: "tracecontext,baggage")  // "baggage"
/// fatalPropagator(inOTelPropagators: "tracecontext")          // nil
/// ```
public func fatalPropagator(inOTelPropagators value: String?) -> String? {
    guard let value else { return nil }
    let names = value.split(separator: ",").map(String.init)
    guard names.allSatisfy({ otelPropagatorNames[$0] != nil }) else { return nil }
    for name in names {
        if name == "none" { return nil }
        if otelPropagatorNames[name] == false { return name }
    }
    return nil
}

/// Starts swift-otel's tracing and bootstraps `InstrumentationSystem` with
/// its tracer and ``baggage`` in one `MultiplexInstrument`; returns the
/// service that exports the spans, to run in the `ServiceGroup` before the
/// server (so that the server stops first, and the spans left are exported).
///
/// Call it once per process, as `InstrumentationSystem.bootstrap` allows.
///
/// - Parameter environment: where `OTEL_PROPAGATORS` is read from; swift-otel
///   itself reads the process's environment.
/// - Throws: ``UnsupportedPropagatorError`` when `OTEL_PROPAGATORS` would
///   make swift-otel stop the process; whatever `OTel.makeTracingBackend` throws.
public func bootstrapTracing(
    configuration: OTel.Configuration,
    environment: [String: String] = ProcessInfo.processInfo.environment
) throws -> some Service {
    if let propagator = fatalPropagator(inOTelPropagators: environment["OTEL_PROPAGATORS"]) {
        throw UnsupportedPropagatorError(propagator: propagator)
    }
    let tracing = try OTel.makeTracingBackend(configuration: configuration)
    InstrumentationSystem.bootstrap(MultiplexInstrument([tracing.factory, baggage]))
    return tracing.service
}

/// An AsyncHTTPClient client that leaves tracing to its caller.
///
/// AsyncHTTPClient 1.37 otherwise starts a client span of its own for each
/// request with the tracer it found at start-up, and adds that span's
/// `traceparent` through the tracer alone (not the `MultiplexInstrument`):
/// no `baggage`, and a second `traceparent` beside the one the caller injected.
public func makeHTTPClient() -> HTTPClient {
    var configuration = HTTPClient.Configuration.singletonConfiguration
    configuration.tracing.tracer = nil
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}
