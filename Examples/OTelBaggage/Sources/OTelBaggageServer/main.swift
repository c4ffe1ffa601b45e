import Foundation
import Logging
import OTelBaggageApp
import ServiceLifecycle

// Spans go to an OTLP/HTTP collector (http://localhost:4318/v1/traces
// unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT says otherwise), each request's
// id to the next hop in the `baggage` header.
let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8080
let logger = Logger(label: "OTelBaggageServer")

let tracingService: any Service
do {
    tracingService = try bootstrapTracing(configuration: .otelBaggage(serviceName: "otel-baggage-example"))
} catch let error as UnsupportedPropagatorError {
    // OTEL_PROPAGATORS names baggage: say what to set, where swift-otel would stop the process.
    logger.critical("\(error)")
    exit(1)
}
let httpClient = makeHTTPClient()
let app = buildApplication(port: port, logger: logger, httpClient: httpClient)
// The server stops first on SIGTERM or SIGINT, then the tracing exports the spans left.
let serviceGroup = ServiceGroup(
    configuration: .init(
        services: [tracingService, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await serviceGroup.run()
try await httpClient.shutdown() as Void
