import AsyncHTTPClient
import ContextStore
import ContextStoreTracing
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The port the server listens on, once it does.
final class ServerPort: Sendable {
    private let port = Mutex<Int?>(nil)

    var value: Int? { port.withLock { $0 } }

    func set(_ value: Int?) { port.withLock { $0 = value } }
}

/// The example server: two endpoints on one server.
///
/// - `GET /hello` logs, calls `/work` on this same server through
///   AsyncHTTPClient with the request id in the `baggage` header, logs again,
///   and answers "<its request id> <the id /work saw>". A `pause` query
///   parameter (milliseconds) makes it wait before the call, so that tests
///   can interleave requests.
/// - `GET /work` reads the `baggage` header into a scope, logs, and answers
///   the request id it saw.
///
/// Every line is logged through `logger`, whose metadata provider (see
/// `main.swift`) adds the request id from the context of the task that logs.
///
/// - Parameters:
///   - port: 0 for any free port; `onServerRunning` is told which.
public func buildApplication(
    host: String = "127.0.0.1",
    port: Int = 8080,
    logger: Logger,
    httpClient: HTTPClient = .shared,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let serverPort = ServerPort()
    let router = Router()
    router.add(middleware: RequestIDMiddleware())

    router.get("hello") { request, context -> String in
        context.logger.info("front: handling")
        if let pause = request.uri.queryParameters.get("pause", as: Int.self), pause > 0 {
            try await Task.sleep(for: .milliseconds(pause))
        }
        guard let port = serverPort.value else { throw HTTPError(.serviceUnavailable) }
        var call = HTTPClientRequest(url: "http://\(host):\(port)/work")
        baggage.inject(into: &call.headers, using: HTTPHeadersInjector())
        let response = try await httpClient.execute(call, timeout: .seconds(30))
        let seen = String(buffer: try await response.body.collect(upTo: 1 << 16))
        context.logger.info("front: second hop answered")
        return "\(TaskContext.get(.requestID) ?? "-") \(seen)"
    }

    router.get("work") { request, context -> String in
        // The middleware made this request an id of its own; the caller's,
        // from the baggage header, replaces it in this scope.
        await baggage.run(extractingFrom: request.headers, using: HTTPFieldsExtractor()) {
            await Task.yield()
            context.logger.info("second hop: handling")
            return TaskContext.get(.requestID) ?? "-"
        }
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
