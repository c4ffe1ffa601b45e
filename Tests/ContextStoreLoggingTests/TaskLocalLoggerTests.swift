import ContextStore
import ContextStoreLogging
import Logging
import Testing

// ContextStore's metadata provider with swift-log's task-local logger
// (`Logger.current`, `withLogger`, SLG-0006). What wins when both set the
// same key follows the order in which swift-log's handlers merge a line's
// metadata (StreamLogHandler and InMemoryLogHandler alike):
//   1. the logger's own metadata, which `withLogger(mergingMetadata:)` and
//      `logger[metadataKey:]` set,
//   2. then the metadata provider's (ContextStore's values),
//   3. then the metadata passed to the one call,
// each later one overriding the earlier for a key both have.

extension LoggingTests {
    @Suite("swift-log's task-local logger")
    struct TaskLocalLoggerTests {
        @Test func loggerCurrentCarriesTheProvidersKeys() async throws {
            let log = CapturingLogger(.contextStore(.key(requestID), .key(attempt)))
            try await withLogger(log.logger) { _ in
                try await TaskContext.run {
                    try TaskContext.set(requestID, "r1")
                    try TaskContext.set(attempt, 2)
                    Logger.current.info("from current")
                    await Task {
                        // A child task inherits both the logger and the scope.
                        Logger.current.info("from a child")
                    }.value
                }
                Logger.current.info("outside the scope")
            }
            for line in ["from current", "from a child"] {
                #expect(rendered(log.metadata(of: line)?["logging.request_id"]) == "r1")
                #expect(rendered(log.metadata(of: line)?["logging.attempt"]) == "2")
            }
            #expect(log.metadata(of: "outside the scope")?.isEmpty == true)
        }

        @Test func theProviderAndWithLoggerMetadataCombine() throws {
            let log = CapturingLogger(.contextStore(.key(requestID)))
            try withLogger(log.logger) { _ in
                try withLogger(mergingMetadata: ["route": "/users"]) { logger in
                    try TaskContext.run {
                        try TaskContext.set(requestID, "r1")
                        logger.info("merged")
                        Logger.current.info("merged, current")
                    }
                }
            }
            for line in ["merged", "merged, current"] {
                let metadata = try #require(log.metadata(of: line))
                #expect(metadata.mapValues { "\($0)" } == ["route": "/users", "logging.request_id": "r1"])
            }
        }

        @Test func theProviderWinsOverWithLoggerForTheSameKey() throws {
            let log = CapturingLogger(.contextStore(.key(requestID)))
            try withLogger(log.logger) { _ in
                try withLogger(mergingMetadata: ["logging.request_id": "from-withLogger"]) { logger in
                    try TaskContext.run {
                        logger.info("no context value yet")
                        try TaskContext.set(requestID, "from-context")
                        logger.info("both")
                    }
                }
            }
            // Absent from the context: the provider adds nothing, so the
            // logger's own metadata stands.
            #expect(rendered(log.metadata(of: "no context value yet")?["logging.request_id"]) == "from-withLogger")
            #expect(rendered(log.metadata(of: "both")?["logging.request_id"]) == "from-context")
        }

        @Test func aCallsOwnMetadataWinsOverBoth() throws {
            let log = CapturingLogger(.contextStore(.key(requestID)))
            try withLogger(log.logger) { _ in
                try withLogger(mergingMetadata: ["logging.request_id": "from-withLogger"]) { logger in
                    try TaskContext.run {
                        try TaskContext.set(requestID, "from-context")
                        logger.info("call", metadata: ["logging.request_id": "from-call"])
                        Logger.current.info("current call", metadata: ["logging.request_id": "from-call"])
                    }
                }
            }
            #expect(rendered(log.metadata(of: "call")?["logging.request_id"]) == "from-call")
            #expect(rendered(log.metadata(of: "current call")?["logging.request_id"]) == "from-call")
        }

        @Test func aLabelKeepsBothValues() throws {
            // To keep withLogger's value and the context's, log the context's
            // under a label of its own.
            let log = CapturingLogger(.contextStore(.key(requestID, as: "context.request_id")))
            try withLogger(log.logger) { _ in
                try withLogger(mergingMetadata: ["logging.request_id": "from-withLogger"]) { logger in
                    try TaskContext.run {
                        try TaskContext.set(requestID, "from-context")
                        logger.info("both kept")
                    }
                }
            }
            let metadata = try #require(log.metadata(of: "both kept"))
            #expect(rendered(metadata["logging.request_id"]) == "from-withLogger")
            #expect(rendered(metadata["context.request_id"]) == "from-context")
        }
    }
}
