import ContextStore
import ContextStoreLogging
import Logging
import ServiceContextModule

/// One request as a server runs it, written four ways (issue 12).
///
/// The shape: middleware opens a scope per request and writes four values
/// (`request_id`, `user`, `locale`: String; `attempt`: Int) into it; the
/// handler reads them 16 times by typed key and 4 times by name; it starts
/// one child task that reads 2 values and writes 1, and awaits it. Each
/// variant is what a user would write with that tool.
public enum Request {
    /// The values a request writes. Literals, so that no variant pays for
    /// making strings.
    public static let requestID = "4bf92f3577b34da6a3ce929d0e0e4736"
    /// `requestID` made at run time, as a server gets a request id (from a
    /// header, or a UUID): a heap string, where the literal is immortal.
    /// ContextStore keeps a literal in the store's word but boxes this one,
    /// and the other variants retain it. Made once, so that no variant pays
    /// for making it.
    public static let builtRequestID = String(decoding: Array(requestID.utf8), as: UTF8.self)
    /// The user the request writes.
    public static let user = "ada"
    /// The locale the request writes.
    public static let locale = "en_US"

    // MARK: ContextStore

    /// The typed keys of the four values.
    public enum Keys {
        /// `request_id`, a String.
        public static let requestID = ContextKey<String>("request_id")
        /// `user`, a String.
        public static let user = ContextKey<String>("user")
        /// `locale`, a String.
        public static let locale = ContextKey<String>("locale")
        /// `attempt`, an Int.
        public static let attempt = ContextKey<Int>("attempt")
    }

    /// The request with ContextStore.
    public static func contextStore(requestID: String = requestID) async {
        await TaskContext.run(inheriting: .copy) {
            writeValues(requestID: requestID)
            await contextStoreHandler()
        }
    }

    /// The middleware's four writes, into the request's fresh scope (also
    /// the instruction-count probe's set-up).
    @inline(__always)
    public static func writeValues(requestID: String = requestID) {
        try! TaskContext.set(Keys.requestID, requestID)
        try! TaskContext.set(Keys.user, user)
        try! TaskContext.set(Keys.locale, locale)
        try! TaskContext.set(Keys.attempt, 1)
    }

    /// The handler part: the reads, then the child.
    @inline(__always)
    static func contextStoreHandler() async {
        for _ in 0..<4 {
            sink(TaskContext.get(Keys.requestID))
            sink(TaskContext.get(Keys.user))
            sink(TaskContext.get(Keys.locale))
            sink(TaskContext.get(Keys.attempt))
        }
        sink(TaskContext.get("request_id"))
        sink(TaskContext.get("user"))
        sink(TaskContext.get("locale"))
        sink(TaskContext.get("attempt"))
        await Task(inheriting: .copy) {
            sink(TaskContext.get(Keys.requestID))
            sink(TaskContext.get(Keys.attempt))
            try! TaskContext.set(Keys.attempt, 2)
        }.value
    }

    // MARK: A struct in one @TaskLocal

    /// The request's state as one struct, bound in one task-local.
    public struct State: Sendable {
        /// `request_id`.
        public var requestID = ""
        /// `user`.
        public var user = ""
        /// `locale`.
        public var locale = ""
        /// `attempt`.
        public var attempt = 0

        /// An empty state.
        public init() {}

        /// A read by name, as a user of a struct would write it.
        public subscript(name: String) -> (any Sendable)? {
            switch name {
            case "request_id": requestID
            case "user": user
            case "locale": locale
            case "attempt": attempt
            default: nil
            }
        }
    }

    /// The bound state; nil outside any request.
    @TaskLocal public static var state: State?

    /// The request with a struct in a task-local: copy, write, bind.
    public static func structTaskLocal(requestID: String = requestID) async {
        var state = Request.state ?? State()
        state.requestID = requestID
        state.user = user
        state.locale = locale
        state.attempt = 1
        await $state.withValue(state) {
            for _ in 0..<4 {
                sink(Request.state?.requestID)
                sink(Request.state?.user)
                sink(Request.state?.locale)
                sink(Request.state?.attempt)
            }
            sink(Request.state?["request_id"])
            sink(Request.state?["user"])
            sink(Request.state?["locale"])
            sink(Request.state?["attempt"])
            await Task {
                var child = Request.state ?? State()
                sink(child.requestID)
                sink(child.attempt)
                child.attempt = 2
                $state.withValue(child) { sink(Request.state?.attempt) }
            }.value
        }
    }

    // MARK: ServiceContext

    /// `request_id` as a ServiceContext key.
    public enum RequestIDKey: ServiceContextKey {
        /// A String.
        public typealias Value = String
    }
    /// `user` as a ServiceContext key.
    public enum UserKey: ServiceContextKey {
        /// A String.
        public typealias Value = String
    }
    /// `locale` as a ServiceContext key.
    public enum LocaleKey: ServiceContextKey {
        /// A String.
        public typealias Value = String
    }
    /// `attempt` as a ServiceContext key.
    public enum AttemptKey: ServiceContextKey {
        /// An Int.
        public typealias Value = Int
    }

    /// The request with ServiceContext: copy the current one, set, bind. It
    /// has no reads by name, so those four are typed reads too.
    public static func serviceContext() async {
        var context = ServiceContext.current ?? .topLevel
        context[RequestIDKey.self] = requestID
        context[UserKey.self] = user
        context[LocaleKey.self] = locale
        context[AttemptKey.self] = 1
        await ServiceContext.withValue(context) {
            for _ in 0..<5 {
                sink(ServiceContext.current?[RequestIDKey.self])
                sink(ServiceContext.current?[UserKey.self])
                sink(ServiceContext.current?[LocaleKey.self])
                sink(ServiceContext.current?[AttemptKey.self])
            }
            await Task {
                var child = ServiceContext.current ?? .topLevel
                sink(child[RequestIDKey.self])
                sink(child[AttemptKey.self])
                child[AttemptKey.self] = 2
                ServiceContext.withValue(child) { sink(ServiceContext.current?[AttemptKey.self]) }
            }.value
        }
    }

    // MARK: Logging

    /// The logger of the ContextStore variant: ContextStoreLogging's
    /// provider adds the four values to every line.
    public static let providerLogger = Logger(label: "request") { label in
        FormattingLogHandler(
            label: label, metadataProvider: .contextStore(["request_id", "user", "locale", "attempt"]))
    }

    /// The request with ContextStore, logging four lines through the
    /// metadata provider.
    public static func contextStoreLogging() async {
        await TaskContext.run(inheriting: .copy) {
            writeValues()
            let logger = providerLogger
            logger.info("request received")
            await contextStoreHandler()
            logger.info("child done")
            logger.info("responding")
            logger.info("request done")
        }
    }

    /// The request with swift-log's task-local logger as the context: the
    /// values are the logger's metadata (`withLogger(mergingMetadata:)`),
    /// read back through `Logger.current`, and four lines log through it.
    /// Needs `LoggingSystem` bootstrapped with `FormattingLogHandler`
    /// (`Request.bootstrapLogging()`).
    public static func swiftLogTaskLocal() async {
        await withLogger(mergingMetadata: swiftLogMetadata) { logger in
            logger.info("request received")
            for _ in 0..<5 {
                sink(Logger.current[metadataKey: "request_id"])
                sink(Logger.current[metadataKey: "user"])
                sink(Logger.current[metadataKey: "locale"])
                sink(Logger.current[metadataKey: "attempt"])
            }
            await Task {
                sink(Logger.current[metadataKey: "request_id"])
                sink(Logger.current[metadataKey: "attempt"])
                withLogger(mergingMetadata: ["attempt": .stringConvertible(2)]) { _ in
                    sink(Logger.current[metadataKey: "attempt"])
                }
            }.value
            Logger.current.info("child done")
            Logger.current.info("responding")
            Logger.current.info("request done")
        }
    }

    /// The logger of `logLinesOnly`: the four values are its handler's own
    /// metadata.
    public static let linesOnlyLogger: Logger = {
        var logger = Logger(label: "request") { FormattingLogHandler(label: $0) }
        for (key, value) in swiftLogMetadata { logger[metadataKey: key] = value }
        return logger
    }()

    /// The four lines both logging variants write, and nothing else: the
    /// floor of either (see `request-logging-floor` in Ratios).
    public static func logLinesOnly() {
        let logger = linesOnlyLogger
        logger.info("request received")
        logger.info("child done")
        logger.info("responding")
        logger.info("request done")
    }

    /// The four values as swift-log metadata, as the swift-log variant
    /// merges them.
    public static var swiftLogMetadata: Logger.Metadata {
        [
            "request_id": .string(requestID), "user": .string(user), "locale": .string(locale),
            "attempt": .stringConvertible(1),
        ]
    }

    /// Bootstraps swift-log with `FormattingLogHandler` (once per process),
    /// before anything reads `Logger.current`.
    public static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in FormattingLogHandler(label: label) }
    }
}
