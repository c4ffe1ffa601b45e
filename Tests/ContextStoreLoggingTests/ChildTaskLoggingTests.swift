import ContextStore
import ContextStoreLogging
import Logging
import Testing

// Lines logged from child tasks carry the child's own context: for every
// inheritance mode of `Task(inheriting:)`, `addTask(inheriting:)` and
// `TaskContext.run(inheriting:)`, for plain `Task {}` (which shares) and
// `Task.detached` (which is in no scope).
//
// Each test: the parent sets the request id, starts a child, then sets
// `attempt` before the child reads anything. The child logs, sets the user
// id, and logs again; then the parent logs. What each line carries follows
// from the mode:
//   .copy   the child sees the parent as it was when the child was made;
//   .share  both see each other's writes;
//   .chain  the child sees the parent's later writes; its own stay in it.

/// A one-shot gate for one waiter.
private final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Void>.makeStream()
    }

    func open() { continuation.finish() }

    func wait() async {
        for await _ in stream {}
    }
}

/// What the child does: wait until the parent has written `attempt`, log,
/// write the user id, log again.
private func childWork(_ log: CapturingLogger, _ go: Gate) async {
    await go.wait()
    log.logger.info("child reads")
    try? TaskContext.set(userID, "child")
    log.logger.info("child wrote")
}

private func expectLines(_ log: CapturingLogger, seesLaterParentWrite: Bool, parentSeesChildWrite: Bool) {
    var childReads: Logger.Metadata = ["logging.request_id": .string("parent")]
    if seesLaterParentWrite { childReads["logging.attempt"] = .stringConvertible(2) }
    var childWrote = childReads
    childWrote["logging.user_id"] = .string("child")
    var parentAfter: Logger.Metadata = [
        "logging.request_id": .string("parent"), "logging.attempt": .stringConvertible(2),
    ]
    if parentSeesChildWrite { parentAfter["logging.user_id"] = .string("child") }

    #expect(log.metadata(of: "child reads").map(render) == render(childReads))
    #expect(log.metadata(of: "child wrote").map(render) == render(childWrote))
    #expect(log.metadata(of: "parent after").map(render) == render(parentAfter))
}

/// Metadata as printed text, so that `.stringConvertible(2)` compares by what a handler prints.
private func render(_ metadata: Logger.Metadata) -> [String: String] {
    metadata.mapValues { "\($0)" }
}

private func makeLog() -> CapturingLogger {
    CapturingLogger(.contextStore(.key(requestID), .key(userID), .key(attempt)))
}

extension LoggingTests {
    @Suite("Logging from child tasks")
    struct ChildTaskLoggingTests {
        @Test(arguments: [Inheritance.copy, .share, .chain])
        func taskInheriting(_ mode: Inheritance) async throws {
            let log = makeLog()
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                let go = Gate()
                let child = Task(inheriting: mode) { await childWork(log, go) }
                try TaskContext.set(attempt, 2)
                go.open()
                await child.value
                log.logger.info("parent after")
            }
            expectLines(log, seesLaterParentWrite: mode != .copy, parentSeesChildWrite: mode == .share)
        }

        @Test(arguments: [Inheritance.copy, .share, .chain])
        func addTaskInheriting(_ mode: Inheritance) async throws {
            let log = makeLog()
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                let go = Gate()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask(inheriting: mode) { await childWork(log, go) }
                    try TaskContext.set(attempt, 2)
                    go.open()
                    try await group.waitForAll()
                }
                log.logger.info("parent after")
            }
            expectLines(log, seesLaterParentWrite: mode != .copy, parentSeesChildWrite: mode == .share)
        }

        @Test(arguments: [Inheritance.copy, .share, .chain])
        func runInheriting(_ mode: Inheritance) async throws {
            let log = makeLog()
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                try TaskContext.set(attempt, 2)
                let go = Gate()
                go.open()
                await TaskContext.run(inheriting: mode) { await childWork(log, go) }
                log.logger.info("parent after")
            }
            // A scope opened in place starts after the parent's writes, so
            // every mode sees them.
            expectLines(log, seesLaterParentWrite: true, parentSeesChildWrite: mode == .share)
        }

        @Test func plainTaskSharesItsParentsScope() async throws {
            let log = makeLog()
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                let go = Gate()
                let child = Task { await childWork(log, go) }
                try TaskContext.set(attempt, 2)
                go.open()
                await child.value
                log.logger.info("parent after")
            }
            expectLines(log, seesLaterParentWrite: true, parentSeesChildWrite: true)
        }

        @Test func detachedTaskLogsNoContext() async throws {
            let log = makeLog()
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                await Task.detached { log.logger.info("detached") }.value
            }
            #expect(log.metadata(of: "detached") == [:])
        }

        @Test func concurrentRequestsNeverMix() async throws {
            let log = makeLog()
            let requests = 64
            let linesPerRequest = 5
            await withTaskGroup(of: Void.self) { group in
                for request in 0..<requests {
                    group.addTask {
                        try? await TaskContext.run {
                            try TaskContext.set(requestID, "r\(request)")
                            for line in 0..<linesPerRequest {
                                log.logger.info("\(request) \(line)")
                                await Task.yield()
                            }
                        }
                    }
                }
            }
            let lines = log.lines
            #expect(lines.count == requests * linesPerRequest)
            for line in lines {
                let request = line.message.split(separator: " ").first.map(String.init) ?? "?"
                #expect(line.metadata == ["logging.request_id": .string("r\(request)")], "line \(line.message)")
            }
        }
    }
}
