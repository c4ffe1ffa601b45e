import Foundation
import OTel
import OTelBaggageApp
import Testing

// swift-otel's own baggage option. swift-otel 1.6.0 makes
// `OTel.Configuration.Propagator.baggage` unavailable, and stops the process
// (`fatalError("Swift OTel does not support the W3C Baggage propagator")`)
// when OTEL_PROPAGATORS names `baggage`, as the OpenTelemetry default
// `tracecontext,baggage` does. So the example's configuration names trace
// context alone, and `bootstrapTracing` refuses such an OTEL_PROPAGATORS
// with an error instead of letting swift-otel stop the process. The exit
// tests run swift-otel itself in a child process, so that its fatalError
// ends only the child.

/// The name of a swift-otel propagator, read by reflection: the type keeps
/// its `backing` enum internal.
func propagatorName(_ propagator: OTel.Configuration.Propagator) -> String {
    Mirror(reflecting: propagator).children.first { $0.label == "backing" }.map { "\($0.value)" } ?? "?"
}

@Suite("swift-otel's propagators")
struct PropagatorTests {
    @Test func theConfigurationNamesTraceContextOnly() {
        // Never baggage: swift-otel 1.6.0 would stop the process on it.
        let configuration = OTel.Configuration.otelBaggage(serviceName: "test")
        #expect(configuration.propagators.map(propagatorName) == ["traceContext"])
    }

    @Test func theGuardReadsOTELPropagatorsAsSwiftOTelDoes() {
        #expect(fatalPropagator(inOTelPropagators: nil) == nil)
        #expect(fatalPropagator(inOTelPropagators: "tracecontext") == nil)
        #expect(fatalPropagator(inOTelPropagators: "tracecontext,baggage") == "baggage")
        #expect(fatalPropagator(inOTelPropagators: "baggage,tracecontext") == "baggage")
        #expect(fatalPropagator(inOTelPropagators: "tracecontext,b3") == "b3")
        // `none` ends the list before baggage is reached.
        #expect(fatalPropagator(inOTelPropagators: "none,baggage") == nil)
        #expect(fatalPropagator(inOTelPropagators: "baggage,none") == "baggage")
        // An entry swift-otel does not know (here " baggage", with its space)
        // makes it ignore the whole value and keep the configuration.
        #expect(fatalPropagator(inOTelPropagators: "tracecontext, baggage") == nil)
        #expect(fatalPropagator(inOTelPropagators: "tracecontext,Baggage") == nil)
    }

    @Test func bootstrapRefusesBaggageInOTELPropagators() throws {
        // Refused before anything is made or bootstrapped.
        let error = #expect(throws: UnsupportedPropagatorError.self) {
            _ = try bootstrapTracing(
                configuration: .otelBaggage(serviceName: "test"),
                environment: ["OTEL_PROPAGATORS": "tracecontext,baggage"])
        }
        #expect(error?.propagator == "baggage")
        #expect(error?.description.contains("OTEL_PROPAGATORS=tracecontext") == true)
    }

    /// swift-otel itself, in a child process, on each value: it starts where
    /// the guard says it would, and stops the process where the guard says it would.
    @Test(arguments: [
        "tracecontext", "tracecontext,baggage", "baggage", "none,baggage", "tracecontext, baggage", "tracecontext,b3",
    ])
    func swiftOTelAgreesWithTheGuard(value: String) async throws {
        if let propagator = fatalPropagator(inOTelPropagators: value) {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                [value] in
                setenv("OTEL_PROPAGATORS", value, 1)
                _ = try OTel.makeTracingBackend(configuration: .otelBaggage(serviceName: "exit-test"))
            }
            let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            let message = propagator == "baggage" ? "W3C Baggage propagator" : "B3 Single propagator"
            #expect(stderr.contains("Swift OTel does not support the \(message)"), "\(stderr.suffix(2000))")
        } else {
            await #expect(processExitsWith: .success) { [value] in
                setenv("OTEL_PROPAGATORS", value, 1)
                _ = try OTel.makeTracingBackend(configuration: .otelBaggage(serviceName: "exit-test"))
            }
        }
    }
}
