import ContextStore
import ContextStoreLogging
import ContextStoreTestSupport
import InMemoryLogging
import Logging
import Testing

// Every suite of this target is nested in `LoggingTests`, which holds
// `GlobalStoreLock` while it runs (see there).

@Suite(.exclusiveGlobalStore)
struct LoggingTests {}

let requestID = ContextKey<String>("logging.request_id")
let userID = ContextKey<String>("logging.user_id")
let attempt = ContextKey<Int>("logging.attempt")

/// A real `Logger` whose handler keeps every line in memory, with `provider`
/// as its metadata provider.
struct CapturingLogger {
    let logger: Logger
    let handler: InMemoryLogHandler

    init(_ provider: Logger.MetadataProvider) {
        var handler = InMemoryLogHandler()
        handler.metadataProvider = provider
        handler.logLevel = .trace
        let captured = handler
        self.handler = handler
        // The handler's entries live in a shared store, so this copy and the
        // logger's see the same lines.
        self.logger = Logger(label: "test") { _ in captured }
    }

    /// The lines logged so far, as message and metadata.
    var lines: [(message: String, metadata: Logger.Metadata)] {
        handler.entries.map { ($0.message.description, $0.metadata) }
    }

    /// The metadata of the one line whose message is `message`.
    func metadata(of message: String, sourceLocation: SourceLocation = #_sourceLocation) -> Logger.Metadata? {
        let found = lines.filter { $0.message == message }
        #expect(found.count == 1, "one line \"\(message)\", found \(found.count)", sourceLocation: sourceLocation)
        return found.first?.metadata
    }
}

/// The metadata value as the handler would print it.
func rendered(_ value: Logger.MetadataValue?) -> String? {
    value.map { "\($0)" }
}
