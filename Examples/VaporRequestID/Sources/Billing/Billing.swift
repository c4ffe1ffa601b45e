import ContextStore
import Logging

/// A stand-in for a library that an app calls into (a payment client, a
/// database driver): it imports ContextStore and swift-log, never Vapor,
/// and still knows which request it works for.
///
/// It reads the request id from the context of the task that calls it, under
/// the name "request_id", the one the app's middleware writes. A key is its
/// name, so this module declares its own and needs nothing from the app:
///
/// ```swift
/// try await TaskContext.run {
///     try TaskContext.set(ContextKey<String>("request_id"), "4bf92f35")
///     let charge = try await Billing(logger: logger).charge(cents: 1250)
///     charge.requestID               // "4bf92f35"
///     charge.fraudCheckRequestID     // "4bf92f35", read in a child task
/// }
/// ```
///
/// Its log lines carry no id of their own: a logger whose metadata provider
/// is `.contextStore(.key(requestID))` adds it, read from the same context.
public struct Billing: Sendable {
    /// The key this library reads; the app writes the same name.
    static let requestID = ContextKey<String>("request_id")

    private let logger: Logger

    /// A billing client that logs through `logger`.
    public init(logger: Logger) {
        self.logger = logger
    }

    /// Charges `cents`, after a fraud check that runs in a child task
    /// (`async let`) and takes `pause`; says which request id each step saw.
    public func charge(cents: Int, pause: Duration = .zero) async throws -> Charge {
        logger.info("billing: charging", metadata: ["cents": "\(cents)"])
        // The child task starts in the caller's context: `async let` shares it.
        async let checked = fraudCheck(cents: cents, pause: pause)
        let seenByCheck = try await checked
        logger.info("billing: charged")
        return Charge(cents: cents, requestID: TaskContext.get(Self.requestID), fraudCheckRequestID: seenByCheck)
    }

    /// Waits `pause` (so that concurrent requests interleave), logs, and
    /// returns the request id this child task sees.
    private func fraudCheck(cents: Int, pause: Duration) async throws -> String? {
        try await Task.sleep(for: pause)
        logger.info("billing: fraud check passed")
        return TaskContext.get(Self.requestID)
    }
}

/// What ``Billing/charge(cents:pause:)`` did, and the request id it saw in
/// the calling task and in its child task.
public struct Charge: Sendable, Codable, Equatable {
    /// The amount charged.
    public var cents: Int
    /// The request id read in `charge`, in the caller's task.
    public var requestID: String?
    /// The request id read in the fraud check, a child task.
    public var fraudCheckRequestID: String?

    /// A charge of `cents` with the ids each step saw.
    public init(cents: Int, requestID: String?, fraudCheckRequestID: String?) {
        self.cents = cents
        self.requestID = requestID
        self.fraudCheckRequestID = fraudCheckRequestID
    }
}
