import AsyncHTTPClient
import Foundation
import Logging
import OTel
import OTelBaggageApp
import ServiceLifecycle
import Testing

// The example server over real HTTP on 127.0.0.1, with swift-otel's tracer
// and W3CBaggagePropagator bootstrapped together in one MultiplexInstrument
// and the spans exported as OTLP/HTTP JSON to a receiver the test runs.
// Both hops must land in one trace (the second hop's server span a child of
// the first hop's client span), and the request id must reach the second
// hop's ContextStore scope through the `baggage` header.
//
// InstrumentationSystem can be bootstrapped once per process, so this is
// the one test here that starts the tracing; it checks every case in one run.

/// A `traceparent` header, read: version-traceid-parentid-flags.
struct TraceParent: Equatable {
    var traceID: String
    var parentID: String
    var flags: String

    init?(_ header: String?) {
        let parts = header?.split(separator: "-").map(String.init) ?? []
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2
        else { return nil }
        (traceID, parentID, flags) = (parts[1], parts[2], parts[3])
    }
}

/// GET `path` with `headers`, decoding the JSON reply.
func get<Reply: Decodable>(
    _ type: Reply.Type, _ client: HTTPClient, port: Int, _ path: String, headers: [(String, String)] = []
) async throws -> Reply {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await client.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 1 << 16)
    try #require(response.status == .ok, "\(path): \(response.status) \(String(buffer: body))")
    return try JSONDecoder().decode(Reply.self, from: Data(body.readableBytesView))
}

/// What the test sent and what it got back, for the checks on the spans.
struct Exchanges: Sendable {
    var hellos: [(id: String, reply: HelloReply)] = []
    var directWithBaggage: WorkReply?
    var directWithout: WorkReply?
}

@Suite("swift-otel's tracer and W3CBaggagePropagator, end to end")
struct EndToEndTests {
    @Test func bothHopsShareOneTraceAndTheRequestIDTravelsInBaggage() async throws {
        let logger = {
            var logger = Logger(label: "OTelBaggageServer")
            logger.logLevel = .warning
            return logger
        }()

        let (exchanges, spans, problems) = try await withOTLPReceiver { receiverPort, received in
            // Exports every 100 ms; graceful shutdown exports what is left.
            let configuration = OTel.Configuration.otelBaggage(
                serviceName: "otel-baggage-test",
                tracesEndpoint: "http://127.0.0.1:\(receiverPort)/v1/traces",
                scheduleDelay: .milliseconds(100))
            let tracing = try bootstrapTracing(configuration: configuration)

            let serverClient = makeHTTPClient()  // the first hop's calls to the second
            let testClient = makeHTTPClient()  // the test's calls, in a pool of their own
            let exchanges = try await withRunningServices(
                "the server", logger: logger,
                services: { reportPort in
                    [
                        tracing,
                        buildApplication(
                            port: 0, logger: logger, httpClient: serverClient, onServerRunning: { reportPort($0) }),
                    ]
                },
                { port in try await Self.exercise(testClient, port: port) })
            try await testClient.shutdown()
            try await serverClient.shutdown()
            return (exchanges, received.spans, received.problems)
        }

        #expect(problems.isEmpty, "export requests the receiver could not read: \(problems)")
        try Self.check(exchanges, against: spans)
    }

    /// One request alone, eight at once, and two straight to the second hop.
    static func exercise(_ client: HTTPClient, port: Int) async throws -> Exchanges {
        var exchanges = Exchanges()
        let single = try await get(
            HelloReply.self, client, port: port, "/hello", headers: [("x-request-id", "req-single")])
        exchanges.hellos.append(("req-single", single))

        let concurrent = try await withThrowingTaskGroup(of: (String, HelloReply).self) { group in
            for index in 0..<8 {
                group.addTask {
                    let id = "req-\(index)"
                    let reply = try await get(
                        HelloReply.self, client, port: port, "/hello", headers: [("x-request-id", id)])
                    return (id, reply)
                }
            }
            return try await group.reduce(into: [(id: String, reply: HelloReply)]()) { $0.append($1) }
        }
        exchanges.hellos += concurrent

        // No traceparent: a trace of its own. The id comes from the baggage header alone.
        exchanges.directWithBaggage = try await get(
            WorkReply.self, client, port: port, "/work", headers: [("baggage", "other=1,request_id=direct%20caller")])
        exchanges.directWithout = try await get(WorkReply.self, client, port: port, "/work")
        return exchanges
    }

    static func check(_ exchanges: Exchanges, against spans: [ReceivedSpan]) throws {
        #expect(exchanges.hellos.count == 9)
        var traces: Set<String> = []
        for (id, reply) in exchanges.hellos {
            // The request id, in both hops' scopes, and on the wire as baggage.
            #expect(reply.requestID == id)
            #expect(reply.work.requestID == id, "the second hop's scope got its id from baggage")
            #expect(reply.work.baggage == "request_id=\(id)")
            #expect(reply.work.traceparentCount == 1)
            let traceparent = try #require(TraceParent(reply.work.traceparent), "\(id): \(reply.work)")
            #expect(traceparent.flags == "01", "sampled")
            traces.insert(traceparent.traceID)

            // The trace: the first hop's server span, its client span, the
            // second hop's server span; nothing else.
            let trace = spans.filter { $0.traceID == traceparent.traceID }
            #expect(trace.count == 3, "\(id): \(trace)")
            let client = try #require(trace.first { $0.spanID == traceparent.parentID }, "\(id): \(trace)")
            #expect(client.kind == ReceivedSpan.client)
            #expect(client.name == "GET /work")
            let first = try #require(trace.first { $0.spanID == client.parentSpanID }, "\(id): \(trace)")
            #expect(first.kind == ReceivedSpan.server)
            #expect(first.name == "/hello")
            #expect(first.parentSpanID == "", "the first hop starts the trace")
            let second = try #require(
                trace.first { $0.kind == ReceivedSpan.server && $0.parentSpanID == client.spanID }, "\(id): \(trace)")
            #expect(second.name == "/work")
            #expect(Set(trace.map(\.spanID)).count == 3)
            #expect(trace.allSatisfy { $0.serviceName == "otel-baggage-test" })
        }
        #expect(traces.count == 9, "every request a trace of its own")

        // Straight to the second hop: the id from baggage, or else a new one.
        let direct = try #require(exchanges.directWithBaggage)
        #expect(direct.requestID == "direct caller")
        #expect(direct.traceparent == nil)
        let plain = try #require(exchanges.directWithout)
        #expect(plain.baggage == nil)
        #expect(plain.requestID.flatMap(UUID.init(uuidString:)) != nil, "a new id: \(plain)")
        let roots = spans.filter { $0.name == "/work" && $0.parentSpanID == "" }
        #expect(roots.count == 2, "\(roots)")
        for root in roots {
            #expect(spans.filter { $0.traceID == root.traceID } == [root], "a trace of one span")
        }

        #expect(spans.count == 9 * 3 + 2, "no other span: \(spans)")
    }
}
