import AsyncHTTPClient
import ContextStore
import ContextStoreTracing
import Foundation
import Hummingbird
import Instrumentation
import Logging
import NIOCore
import ServiceContextModule
import Synchronization
import Tracing

/// The port the server listens on, once it does.
final class ServerPort: Sendable {
    private let port = Mutex<Int?>(nil)

    var value: Int? { port.withLock { $0 } }

    func set(_ value: Int?) { port.withLock { $0 = value } }
}

/// What `GET /work` answers: the request id in its scope, and the two
/// propagation headers it received.
public struct WorkReply: ResponseCodable, Sendable, Equatable {
    /// The request id in the handler's scope.
    public var requestID: String?
    /// The `traceparent` header received, if any.
    public var traceparent: String?
    /// The `baggage` header received, if any.
    public var baggage: String?
    /// How many `traceparent` headers were received.
    public var traceparentCount: Int
}

/// What `GET /hello` answers: its own request id, and `/work`'s reply.
public struct HelloReply: ResponseCodable, Sendable, Equatable {
    /// The request id in the handler's scope.
    public var requestID: String?
    /// What the second hop answered.
    public var work: WorkReply
}

/// The example server: two hops on one server, each request in a server
/// span of Hummingbird's `TracingMiddleware` and a ContextStore scope of
/// ``RequestScopeMiddleware``.
///
/// - `GET /hello` (the first hop) calls `/work` on this same server through
///   AsyncHTTPClient, inside a client span, with the headers of the
///   bootstrapped `MultiplexInstrument`: `traceparent` from swift-otel's
///   tracer, `baggage` (the request id) from ``baggage``. It answers a
///   ``HelloReply``.
/// - `GET /work` (the second hop) answers a ``WorkReply``: the request id
///   that reached its scope, and the headers it received.
///
/// Start the tracing first (``bootstrapTracing(configuration:environment:)``):
/// without it, the spans and `traceparent` are no-ops and no header is sent.
///
/// - Parameters:
///   - port: 0 for any free port; `onServerRunning` is told which.
///   - httpClient: the client for the second hop; make it with
///     ``makeHTTPClient()``, which leaves tracing to this handler.
public func buildApplication(
    host: String = "127.0.0.1",
    port: Int = 8080,
    logger: Logger,
    httpClient: HTTPClient,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let serverPort = ServerPort()
    let bridge = ServiceContextBridge()
    let router = Router()
    router.add(middleware: TracingMiddleware())
    router.add(middleware: RequestScopeMiddleware())

    router.get("hello") { request, context -> HelloReply in
        context.logger.info("first hop: handling")
        guard let port = serverPort.value else { throw HTTPError(.serviceUnavailable) }
        let work = try await withSpan("GET /work", ofKind: .client) { span in
            var call = HTTPClientRequest(url: "http://\(host):\(port)/work")
            // The client span's context (its trace and span ids), carrying this scope's ContextStore context.
            let outgoing = bridge.serviceContext(merging: span.context)
            InstrumentationSystem.instrument.inject(outgoing, into: &call.headers, using: HTTPHeadersInjector())
            let response = try await httpClient.execute(call, timeout: .seconds(30))
            span.attributes["http.response.status_code"] = Int(response.status.code)
            let body = try await response.body.collect(upTo: 1 << 16)
            return try JSONDecoder().decode(WorkReply.self, from: Data(body.readableBytesView))
        }
        return HelloReply(requestID: TaskContext.get(.requestID), work: work)
    }

    router.get("work") { request, context -> WorkReply in
        context.logger.info("second hop: handling")
        return WorkReply(
            requestID: TaskContext.get(.requestID),
            traceparent: request.headers[.traceparent],
            baggage: request.headers[.baggage],
            traceparentCount: request.headers[values: .traceparent].count
        )
    }

    return Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
        onServerRunning: { channel in
            let bound = channel.localAddress?.port
            serverPort.set(bound)
            if let bound { await onServerRunning(bound) }
        },
        logger: logger
    )
}
