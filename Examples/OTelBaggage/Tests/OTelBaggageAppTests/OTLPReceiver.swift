import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

// A stand-in for an OpenTelemetry collector: an OTLP/HTTP receiver on
// 127.0.0.1 that takes JSON export requests at POST /v1/traces and keeps
// the spans, with only the fields the tests read.

/// A span as the receiver read it.
struct ReceivedSpan: Sendable, Hashable, CustomStringConvertible {
    /// Lowercase hex, 32 digits.
    var traceID: String
    /// Lowercase hex, 16 digits.
    var spanID: String
    /// Lowercase hex, 16 digits; "" for a root span.
    var parentSpanID: String
    var name: String
    /// OTLP's SpanKind: 2 server, 3 client.
    var kind: Int
    var serviceName: String?

    static let server = 2
    static let client = 3

    var description: String { "\(name) kind=\(kind) trace=\(traceID) span=\(spanID) parent=\(parentSpanID)" }
}

/// What the receiver got: the spans, and any request it could not read.
final class ReceivedTelemetry: Sendable {
    private let state = Mutex<(spans: [ReceivedSpan], problems: [String], requests: Int)>(([], [], 0))

    var spans: [ReceivedSpan] { state.withLock { $0.spans } }
    var problems: [String] { state.withLock { $0.problems } }
    var requests: Int { state.withLock { $0.requests } }

    fileprivate func add(_ spans: [ReceivedSpan]) {
        state.withLock {
            $0.spans += spans
            $0.requests += 1
        }
    }

    fileprivate func problem(_ text: String) { state.withLock { $0.problems.append(text) } }
}

/// The parts of an OTLP `ExportTraceServiceRequest`, in its JSON encoding, that the tests read.
private struct ExportTraceServiceRequest: Decodable {
    struct ResourceSpans: Decodable {
        var resource: Resource?
        var scopeSpans: [ScopeSpans]?
    }
    struct Resource: Decodable { var attributes: [KeyValue]? }
    struct KeyValue: Decodable {
        var key: String
        var value: AnyValue?
    }
    struct AnyValue: Decodable { var stringValue: String? }
    struct ScopeSpans: Decodable { var spans: [Span]? }
    struct Span: Decodable {
        var traceId: String
        var spanId: String
        var parentSpanId: String?
        var name: String
        var kind: Int?
    }

    var resourceSpans: [ResourceSpans]?
}

/// An id of `byteCount` bytes as lowercase hex. OTLP/JSON writes ids as hex;
/// swift-otel 1.6.0 writes them as SwiftProtobuf encodes bytes, in base64.
/// Both are read: the lengths tell them apart.
private func hexID(_ text: String, byteCount: Int) -> String? {
    if text.count == byteCount * 2, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
    guard let data = Data(base64Encoded: text), data.count == byteCount else { return nil }
    return data.map { String(format: "%02x", $0) }.joined()
}

private func readSpans(_ body: Data) throws -> [ReceivedSpan] {
    let request = try JSONDecoder().decode(ExportTraceServiceRequest.self, from: body)
    var spans: [ReceivedSpan] = []
    for resourceSpans in request.resourceSpans ?? [] {
        let serviceName = resourceSpans.resource?.attributes?.first { $0.key == "service.name" }?.value?.stringValue
        for scopeSpans in resourceSpans.scopeSpans ?? [] {
            for span in scopeSpans.spans ?? [] {
                guard let traceID = hexID(span.traceId, byteCount: 16),
                    let spanID = hexID(span.spanId, byteCount: 8)
                else { throw UnreadableID(span: span.name) }
                let parent = span.parentSpanId.flatMap { $0.isEmpty ? "" : hexID($0, byteCount: 8) } ?? ""
                spans.append(
                    ReceivedSpan(
                        traceID: traceID, spanID: spanID, parentSpanID: parent,
                        name: span.name, kind: span.kind ?? 0, serviceName: serviceName))
            }
        }
    }
    return spans
}

private struct UnreadableID: Error { var span: String }

/// Runs an OTLP/HTTP receiver on 127.0.0.1 and a free port for as long as
/// `body` runs, and gives `body` its port and what it receives.
func withOTLPReceiver<R: Sendable>(
    _ body: @Sendable (_ port: Int, _ received: ReceivedTelemetry) async throws -> R
) async throws -> R {
    let received = ReceivedTelemetry()
    let router = Router()
    router.post("v1/traces") { request, _ -> Response in
        let buffer = try await request.body.collect(upTo: 16 << 20)
        do {
            received.add(try readSpans(Data(buffer.readableBytesView)))
        } catch {
            received.problem("\(error): \(String(buffer: buffer).prefix(500))")
            return Response(status: .badRequest)
        }
        // An empty ExportTraceServiceResponse: everything accepted.
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: "{}")))
    }
    var logger = Logger(label: "OTLPReceiver")
    logger.logLevel = .warning
    return try await withRunningServices(
        "the OTLP receiver", logger: logger,
        services: { reportPort in
            [
                Application(
                    router: router,
                    configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                    onServerRunning: { channel in
                        if let port = channel.localAddress?.port { reportPort(port) }
                    },
                    logger: logger)
            ]
        },
        { port in try await body(port, received) })
}
