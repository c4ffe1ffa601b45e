import Logging
import ServiceLifecycle
import Testing

/// A server in `services` never reported its port.
struct ServerDidNotStart: Error { var what: String }

/// Runs `services` in a `ServiceGroup` and `body` with the port a server
/// among them reports (through the callback `makeServices` hands it), then
/// shuts the group down gracefully and waits for it, whether `body` returns
/// or throws. Graceful shutdown stops the services in reverse order, so a
/// service listed first (tracing, say) outlives the ones after it.
func withRunningServices<R: Sendable>(
    _ what: String,
    logger: Logger,
    services makeServices: (_ reportPort: @escaping @Sendable (Int) -> Void) throws -> [any Service],
    _ body: (_ port: Int) async throws -> R
) async throws -> R {
    let (ports, portSink) = AsyncStream<Int>.makeStream()
    let services = try makeServices { portSink.yield($0) }
    let serviceGroup = ServiceGroup(
        configuration: .init(services: services, gracefulShutdownSignals: [], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { portSink.finish() }
            try await serviceGroup.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The group ended before a server reported its port: its own
            // error, if it threw one, says why.
            try await group.waitForAll()
            throw ServerDidNotStart(what: what)
        }
        let result: R
        do {
            result = try await body(port)
        } catch {
            await serviceGroup.triggerGracefulShutdown()
            throw error
        }
        await serviceGroup.triggerGracefulShutdown()
        try await group.waitForAll()
        return result
    }
}

@Suite("withRunningServices")
struct RunningServicesTests {
    struct Refused: Error {}

    /// A service that fails before it could report a port.
    struct FailsAtOnce: Service {
        func run() async throws { throw Refused() }
    }

    /// A server that fails before it reports its port surfaces its own
    /// error, not `ServerDidNotStart`, and the body never runs.
    @Test func aServerThatFailsBeforeItsPortSurfacesItsError() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        await #expect(throws: Refused.self) {
            let services: ((@escaping @Sendable (Int) -> Void) throws -> [any Service]) = { _ in [FailsAtOnce()] }
            try await withRunningServices("a failing server", logger: logger, services: services) { _ in
                Issue.record("the body ran without a port")
            }
        }
    }
}
