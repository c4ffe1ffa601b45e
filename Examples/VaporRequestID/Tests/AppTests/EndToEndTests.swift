import App
import AsyncHTTPClient
import Billing
import ContextStore
import ContextStoreLogging
import Foundation
import InMemoryLogging
import Logging
import Testing
import Vapor
import VaporTesting

// The example app, driven over real HTTP on 127.0.0.1 (an ephemeral port),
// with its log lines captured in memory: the request id reaches the route,
// `Billing` (which does not import Vapor) and Billing's child task, and
// every log line, and concurrent requests never see each other's ids.

/// A running server: its port, the lines it logged, and a client to call it.
struct Server: Sendable {
    let port: Int
    let logs: InMemoryLogHandler

    struct Reply: Sendable {
        var status: UInt
        var body: CheckoutReply
        var echoedID: String?
    }

    /// GET /checkout, with the given `X-Request-ID` if any.
    func checkout(id: String? = nil, pause: Int = 0) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/checkout?cents=1250&pause=\(pause)")
        if let id { request.headers.add(name: "X-Request-ID", value: id) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        let reply = try JSONDecoder().decode(CheckoutReply.self, from: Data(body.utf8))
        return Reply(status: response.status.code, body: reply, echoedID: response.headers.first(name: "X-Request-ID"))
    }

    /// The lines whose message is `message`, in order.
    func lines(_ message: String) -> [InMemoryLogHandler.Entry] {
        logs.entries.filter { $0.message.description == message }
    }

    /// The `request_id` (from the context, through the metadata provider)
    /// on the lines whose message is `message`, in order.
    func requestIDs(on message: String) -> [String?] {
        lines(message).map { $0.metadata["request_id"].map { "\($0)" } }
    }
}

struct ServerDidNotStart: Error {}

/// Vapor's own line for each request (`RouteLoggingMiddleware`), then the
/// route's, then Billing's (two in its task, one in its child task).
let everyLine = [
    "GET /checkout", "checkout: handling", "billing: charging", "billing: fraud check passed", "billing: charged",
    "checkout: done",
]
/// The lines `Billing` logs: through `app.logger`, not `request.logger`.
let billingLines = ["billing: charging", "billing: fraud check passed", "billing: charged"]

/// Runs the example app on 127.0.0.1 and a free port, logging into memory
/// through the ContextStore metadata provider, for as long as `body` runs.
func withServer(_ body: @Sendable (Server) async throws -> Void) async throws {
    var handler = InMemoryLogHandler()
    handler.metadataProvider = .contextStore(.key(.requestID))
    let logs = handler

    try await withApp { app in
        app.logger = Logger(label: "codes.vapor.application") { _ in logs }
        try await configure(app)
        try await app.asyncBoot()
        try await app.server.start(address: .hostname("127.0.0.1", port: 0))
        do {
            guard let port = app.http.server.shared.localAddress?.port else { throw ServerDidNotStart() }
            try await body(Server(port: port, logs: logs))
        } catch {
            await app.server.shutdown()
            throw error
        }
        await app.server.shutdown()
    }
}

@Suite("Request ids end to end, on Vapor")
struct EndToEndTests {
    @Test func theClientsIDReachesEveryReadingAndEveryLine() async throws {
        try await withServer { server in
            let reply = try await server.checkout(id: "req-single")
            #expect(reply.status == 200)
            #expect(reply.echoedID == "req-single")
            #expect(
                reply.body
                    == CheckoutReply(
                        vapor: "req-single", route: "req-single",
                        billing: Charge(cents: 1250, requestID: "req-single", fraudCheckRequestID: "req-single")))

            for message in everyLine {
                #expect(server.requestIDs(on: message) == ["req-single"], "\(message)")
            }
            // Billing's logger is not the request's: the id on its lines
            // came from the context alone.
            for message in billingLines {
                #expect(server.lines(message).allSatisfy { $0.metadata["request-id"] == nil }, "\(message)")
            }
            // The request's own logger carries Vapor's `request-id` too: the same id.
            #expect(server.lines("checkout: handling").map { $0.metadata["request-id"] } == ["req-single"])
        }
    }

    @Test func withoutAnIDVaporMakesOneAndEveryReadingAgrees() async throws {
        try await withServer { server in
            let reply = try await server.checkout()
            let id = try #require(reply.echoedID)
            #expect(UUID(uuidString: id) != nil, "a UUID: \(id)")
            #expect(
                reply.body
                    == CheckoutReply(
                        vapor: id, route: id, billing: Charge(cents: 1250, requestID: id, fraudCheckRequestID: id)))
            for message in everyLine {
                #expect(server.requestIDs(on: message) == [id], "\(message)")
            }
        }
    }

    @Test func concurrentRequestsNeverMix() async throws {
        try await withServer { server in
            var generator = SystemRandomNumberGenerator()
            // 40 requests with ids of their own and 10 without, all at once,
            // each pausing 0-20 ms in Billing's child task.
            let requests: [(id: String?, pause: Int)] =
                (0..<40).map { ("req-\($0)", Int.random(in: 0...20, using: &generator)) }
                + (0..<10).map { _ in (nil, Int.random(in: 0...20, using: &generator)) }

            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for request in requests {
                    group.addTask {
                        let reply = try await server.checkout(id: request.id, pause: request.pause)
                        #expect(reply.status == 200)
                        let id = try #require(reply.echoedID)
                        if let sent = request.id { #expect(id == sent) }
                        let seen = reply.body
                        #expect(
                            [seen.vapor, seen.route, seen.billing.requestID, seen.billing.fraudCheckRequestID]
                                == [id, id, id, id],
                            "request \(id) saw another id: \(seen)")
                        return id
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(ids).count == requests.count, "every request has an id of its own")

            // Each id is on exactly one line of each kind: no line got another request's id.
            for message in everyLine {
                let logged = server.requestIDs(on: message)
                #expect(logged.count == requests.count, "\(message)")
                #expect(logged.compactMap { $0 }.sorted() == ids.sorted(), "\(message)")
            }
        }
    }
}

@Suite("Billing without Vapor")
struct BillingTests {
    @Test func readsTheIDFromTheContextItRunsIn() async throws {
        var handler = InMemoryLogHandler()
        handler.metadataProvider = .contextStore(.key(.requestID))
        let logs = handler
        let billing = Billing(logger: Logger(label: "billing") { _ in logs })

        let charge = try await TaskContext.run {
            try TaskContext.set(.requestID, "plain-swift")
            return try await billing.charge(cents: 5)
        }
        #expect(charge == Charge(cents: 5, requestID: "plain-swift", fraudCheckRequestID: "plain-swift"))
        #expect(logs.entries.map { $0.metadata["request_id"] } == ["plain-swift", "plain-swift", "plain-swift"])

        // Outside any scope there is no id, and the lines carry none.
        let outside = try await billing.charge(cents: 5)
        #expect(outside == Charge(cents: 5, requestID: nil, fraudCheckRequestID: nil))
        #expect(logs.entries.dropFirst(3).allSatisfy { $0.metadata["request_id"] == nil })
    }
}
