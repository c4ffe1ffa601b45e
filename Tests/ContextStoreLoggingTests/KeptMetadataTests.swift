import ContextStore
import ContextStoreLogging
import Logging
import Synchronization
import Testing

// The provider's metadata is made once per version of the context and kept
// with it (`TaskContext._derived`). These tests pin what that must never
// change: every line carries the context as it is when the line is logged.

/// Counts a transform's calls.
private final class Calls: Sendable {
    private let count = Atomic<Int>(0)
    func record() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

extension LoggingTests {
    @Suite("Metadata kept per version of the context")
    struct KeptMetadataTests {
        @Test func aWriteBetweenTwoLinesShowsInTheSecond() throws {
            let log = CapturingLogger(.contextStore(.key(requestID), .key(attempt)))
            try TaskContext.run {
                try TaskContext.set(requestID, "r1")
                log.logger.info("one")
                log.logger.info("two")
                try TaskContext.set(requestID, "r2")
                log.logger.info("three")
                try TaskContext.set(attempt, 3)
                log.logger.info("four")
                try TaskContext.remove(requestID)
                log.logger.info("five")
                try TaskContext.clear()
                log.logger.info("six")
            }
            #expect(rendered(log.metadata(of: "one")?["logging.request_id"]) == "r1")
            #expect(rendered(log.metadata(of: "two")?["logging.request_id"]) == "r1")
            #expect(rendered(log.metadata(of: "three")?["logging.request_id"]) == "r2")
            #expect(log.metadata(of: "three")?["logging.attempt"] == nil)
            #expect(rendered(log.metadata(of: "four")?["logging.attempt"]) == "3")
            #expect(log.metadata(of: "five").map { $0.keys.sorted() } == ["logging.attempt"])
            #expect(log.metadata(of: "six")?.isEmpty == true)
        }

        @Test func aTransformRunsOncePerVersionNotPerLine() throws {
            let calls = Calls()
            let log = CapturingLogger(
                .contextStore(
                    .key(requestID, as: "id") { value in
                        calls.record()
                        return .string(value.uppercased())
                    }))
            try TaskContext.run {
                try TaskContext.set(requestID, "abc")
                for _ in 0..<5 { log.logger.info("same") }
                #expect(calls.value == 1)
                try TaskContext.set(requestID, "def")
                log.logger.info("changed")
                log.logger.info("changed again")
                #expect(calls.value == 2)
            }
            #expect(log.lines.filter { $0.message == "same" }.allSatisfy { rendered($0.metadata["id"]) == "ABC" })
            #expect(rendered(log.metadata(of: "changed")?["id"]) == "DEF")
        }

        @Test func providersWithDifferentKeysEachGetTheirOwn() throws {
            // More providers than one version keeps (4), logging in turn.
            let providers = (0..<6).map { i in
                CapturingLogger(.contextStore(.key(requestID, as: "id\(i)"), .key(attempt)))
            }
            try TaskContext.run {
                try TaskContext.set(requestID, "r")
                try TaskContext.set(attempt, 1)
                for _ in 0..<3 {
                    for (i, log) in providers.enumerated() { log.logger.info("line \(i)") }
                }
            }
            for (i, log) in providers.enumerated() {
                let lines = log.lines
                #expect(lines.count == 3)
                for line in lines {
                    #expect(line.metadata.keys.sorted() == ["id\(i)", "logging.attempt"])
                    #expect(rendered(line.metadata["id\(i)"]) == "r")
                }
            }
        }

        @Test func aChainedScopeSeesItsParentsLaterWrites() throws {
            let log = CapturingLogger(.contextStore(.key(requestID), .key(userID)))
            try TaskContext.run {
                try TaskContext.set(requestID, "outer")
                try TaskContext.run(inheriting: .chain) {
                    log.logger.info("before")
                    try TaskContext.set(userID, "inner")
                    log.logger.info("after")
                }
            }
            #expect(rendered(log.metadata(of: "before")?["logging.request_id"]) == "outer")
            #expect(log.metadata(of: "before")?["logging.user_id"] == nil)
            #expect(rendered(log.metadata(of: "after")?["logging.user_id"]) == "inner")
        }

        @Test func tasksSharingAScopeSeeEachOthersWrites() async throws {
            let log = CapturingLogger(.contextStore(.key(attempt)))
            try await TaskContext.run {
                try TaskContext.set(attempt, 0)
                for n in 1...20 {
                    // The child writes after the parent's line kept a version.
                    log.logger.info("parent \(n)")
                    await Task(inheriting: .share) {
                        try? TaskContext.set(attempt, n)
                        log.logger.info("child \(n)")
                    }.value
                    log.logger.info("parent after \(n)")
                }
            }
            for n in 1...20 {
                #expect(rendered(log.metadata(of: "parent \(n)")?["logging.attempt"]) == "\(n - 1)")
                #expect(rendered(log.metadata(of: "child \(n)")?["logging.attempt"]) == "\(n)")
                #expect(rendered(log.metadata(of: "parent after \(n)")?["logging.attempt"]) == "\(n)")
            }
        }

        @Test func aSnapshotTakenEarlierStillReadsItsOwnVersion() throws {
            let log = CapturingLogger(.contextStore(.key(requestID)))
            try TaskContext.run {
                try TaskContext.set(requestID, "first")
                log.logger.info("kept")
                let before = TaskContext.current
                try TaskContext.set(requestID, "second")
                #expect(before[requestID] == "first")
                #expect(TaskContext.current[requestID] == "second")
                log.logger.info("now")
            }
            #expect(rendered(log.metadata(of: "now")?["logging.request_id"]) == "second")
        }
    }
}
