import ContextStore
import ContextStoreLogging
import Logging
import Testing

// Mirrors the logging snippets of PropagatingContext.md (in the ContextStore
// catalog; see DocumentationSnippetTests). `LoggingSystem.bootstrap` may run
// only once per process, so the article's bootstrap line is compiled here
// but never run: the tests give the same provider to a capturing logger.

/// Compiled, never called (see above).
private func bootstrapAsTheArticleDoes() {
    let requestID = ContextKey<String>("request_id")

    LoggingSystem.bootstrap(StreamLogHandler.standardOutput, metadataProvider: .contextStore(.key(requestID)))
}

extension LoggingTests {
    @Suite("Documentation: PropagatingContext.md, logging")
    struct LoggingSnippetTests {
        @Test func requestIDsInEveryLogLine() throws {
            let requestID = ContextKey<String>("request_id")
            let capture = CapturingLogger(.contextStore(.key(requestID)))
            let logger = capture.logger

            try TaskContext.run {
                try TaskContext.set(requestID, "7f0c2b4e")
                logger.info("handling")  // logged with request_id=7f0c2b4e
            }
            logger.info("idle")  // logged with no request_id: no scope is open

            #expect(capture.metadata(of: "handling") == ["request_id": .string("7f0c2b4e")])
            #expect(capture.metadata(of: "idle") == [:])
        }

        @Test func theProviderTakesKeysInSeveralForms() throws {
            let requestID = ContextKey<String>("request_id")
            let attempt = ContextKey<Int>("attempt")

            let provider = Logger.MetadataProvider.contextStore(
                .key(requestID),
                .key(attempt, as: "retry"),
                .name("user_id", as: "user"),
                "tenant"
            )

            let capture = CapturingLogger(provider)
            try TaskContext.run {
                try TaskContext.set(requestID, "r-1")
                try TaskContext.set(attempt, 2)
                try TaskContext.set("user_id", "ada")
                try TaskContext.set("tenant", "acme")
                capture.logger.info("all four")
                try TaskContext.remove(attempt)
                try TaskContext.set("tenant", 42)  // `.name` logs any type
                capture.logger.info("three")
            }
            let four = try #require(capture.metadata(of: "all four"))
            #expect(
                four.mapValues { rendered($0) } == ["request_id": "r-1", "retry": "2", "user": "ada", "tenant": "acme"])
            let three = try #require(capture.metadata(of: "three"))
            #expect(three.mapValues { rendered($0) } == ["request_id": "r-1", "user": "ada", "tenant": "42"])
        }

        /// "A child made with `Task(inheriting: .copy)` that sets its own
        /// request id logs that one."
        @Test func aForkedChildLogsItsOwnValue() async throws {
            let requestID = ContextKey<String>("request_id")
            let capture = CapturingLogger(.contextStore(.key(requestID)))
            try await TaskContext.run {
                try TaskContext.set(requestID, "parent")
                try await Task(inheriting: .copy) {
                    try TaskContext.set(requestID, "child")
                    capture.logger.info("in the child")
                }.value
                capture.logger.info("in the parent")
            }
            #expect(capture.metadata(of: "in the child") == ["request_id": .string("child")])
            #expect(capture.metadata(of: "in the parent") == ["request_id": .string("parent")])
        }

        @Test func withSwiftLogsTaskLocalLogger() throws {
            let requestID = ContextKey<String>("request_id")
            let capture = CapturingLogger(.contextStore(.key(requestID)))

            try withLogger(capture.logger) { _ in
                try withLogger(mergingMetadata: ["route": "/users"]) { logger in
                    try TaskContext.run {
                        try TaskContext.set(requestID, "7f0c2b4e")
                        logger.info("listing")  // logged with route=/users and request_id=7f0c2b4e
                        Logger.current.info("listed")  // the same two keys
                    }
                }
            }
            for line in ["listing", "listed"] {
                let metadata = try #require(capture.metadata(of: line))
                #expect(metadata.mapValues { rendered($0) } == ["route": "/users", "request_id": "7f0c2b4e"])
            }
        }
    }
}
