import AsyncHTTPClient
import ContextStore
import ContextStoreLogging
import Foundation
import InMemoryLogging
import Logging
import RequestIDApp
import Testing

// The example server, driven over real HTTP on 127.0.0.1 (an ephemeral
// port), with its log lines captured in memory: the request id reaches the
// second hop's lines through the `baggage` header, and concurrent requests
// never see each other's ids.

/// A running server: its port, the lines it logged, and a client to call it.
struct Server: Sendable {
    let port: Int
    let logs: InMemoryLogHandler

    struct Reply: Sendable {
        var status: UInt
        var body: String
        var echoedID: String?
    }

    /// GET `path` with the given extra headers.
    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        return Reply(status: response.status.code, body: body, echoedID: response.headers.first(name: "x-request-id"))
    }

    /// The request ids on the lines whose message is `message`, in order.
    func requestIDs(on message: String) -> [String?] {
        logs.entries.filter { $0.message.description == message }.map { entry in
            entry.metadata["request_id"].map { "\($0)" }
        }
    }
}

struct ServerDidNotStart: Error {}

/// Runs the example server on 127.0.0.1 and a free port, logging into
/// memory through the ContextStore metadata provider, for as long as `body` runs.
func withServer(_ body: @Sendable (Server) async throws -> Void) async throws {
    var handler = InMemoryLogHandler()
    handler.metadataProvider = .contextStore(.key(.requestID))
    let logs = handler
    let logger = Logger(label: "RequestIDServer") { _ in logs }

    // The server's own client: calls to /work queue in its pool, apart from the test's.
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let (ports, portSink) = AsyncStream<Int>.makeStream()
    let app = buildApplication(
        port: 0, logger: logger, httpClient: client,
        onServerRunning: { port in portSink.yield(port) })

    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { portSink.finish() }  // a server that fails to start ends the wait below
            try await app.runService(gracefulShutdownSignals: [])
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServerDidNotStart() }
        do {
            try await body(Server(port: port, logs: logs))
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()  // a graceful shutdown
        try await group.waitForAll()
    }
    try await client.shutdown()
}

@Suite("Request ids end to end")
struct EndToEndTests {
    @Test func theRequestIDReachesTheSecondHopsLogs() async throws {
        try await withServer { server in
            let reply = try await server.get("/hello", headers: [("x-request-id", "req-single")])
            #expect(reply.status == 200)
            #expect(reply.body == "req-single req-single", "the front's id, then the id /work saw")
            #expect(reply.echoedID == "req-single")

            #expect(server.requestIDs(on: "front: handling") == ["req-single"])
            #expect(server.requestIDs(on: "second hop: handling") == ["req-single"])
            #expect(server.requestIDs(on: "front: second hop answered") == ["req-single"])
        }
    }

    @Test func withoutAnIDTheServerMakesOneAndCarriesIt() async throws {
        try await withServer { server in
            let reply = try await server.get("/hello")
            let id = try #require(reply.echoedID)
            #expect(UUID(uuidString: id) != nil, "a UUID: \(id)")
            #expect(reply.body == "\(id) \(id)")
            #expect(server.requestIDs(on: "second hop: handling") == [id])
        }
    }

    @Test func theSecondHopTakesTheIDFromTheBaggageHeaderOnly() async throws {
        try await withServer { server in
            // Called directly with no baggage, /work keeps the id the middleware made.
            let plain = try await server.get("/work")
            let made = try #require(plain.echoedID)
            #expect(plain.body == made)

            // With baggage, the caller's id wins in the handler's scope;
            // keys the server did not list are not taken.
            let carried = try await server.get("/work", headers: [("baggage", "other=1, request_id=from%20caller;p=1")])
            #expect(carried.body == "from caller")
            #expect(server.requestIDs(on: "second hop: handling") == [made, "from caller"])
        }
    }

    @Test func concurrentRequestsNeverMix() async throws {
        try await withServer { server in
            var generator = SystemRandomNumberGenerator()
            // 32 requests with ids of their own and 8 without, all at once,
            // each pausing 0-20 ms between its two log lines.
            let requests: [(id: String?, pause: Int)] =
                (0..<32).map { ("req-\($0)", Int.random(in: 0...20, using: &generator)) }
                + (0..<8).map { _ in (nil, Int.random(in: 0...20, using: &generator)) }

            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for request in requests {
                    group.addTask {
                        let headers = request.id.map { [("x-request-id", $0)] } ?? []
                        let reply = try await server.get("/hello?pause=\(request.pause)", headers: headers)
                        let id = try #require(reply.echoedID)
                        if let sent = request.id { #expect(id == sent) }
                        #expect(reply.body == "\(id) \(id)", "request \(id) saw another id")
                        return id
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(ids).count == requests.count, "every request has an id of its own")

            // Each id is on exactly one line of each kind: no line got another request's id.
            for message in ["front: handling", "second hop: handling", "front: second hop answered"] {
                let logged = server.requestIDs(on: message)
                #expect(logged.count == requests.count, "\(message)")
                #expect(logged.compactMap { $0 }.sorted() == ids.sorted(), "\(message)")
            }
        }
    }
}
