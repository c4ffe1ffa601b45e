import ContextStore
import Vapor

extension ContextKey where Value == String {
    /// The id of the request being handled: the client's `X-Request-ID`, or
    /// a UUID that Vapor made (``RequestIDMiddleware`` writes `request.id`).
    public static let requestID = ContextKey("request_id")
}

/// Runs each request in a context scope of its own holding the request id,
/// and echoes the id in the response's `X-Request-ID`.
///
/// The id is Vapor's `request.id`: the client's `X-Request-ID`, or a new
/// UUID, the same id Vapor puts on `request.logger` as `request-id`.
///
/// Add it first, so that the whole chain runs in the scope:
///
/// ```swift
/// app.middleware.use(RequestIDMiddleware(), at: .beginning)
/// ```
///
/// Vapor runs a route's async handler in a new `Task` made inside this
/// middleware's task, so the handler inherits the scope, and so does the
/// code it calls. A `Middleware` placed after this one must call `next`
/// before it returns (as Vapor's own do), not from a future's callback:
/// a callback runs on an event loop, outside any task, and a handler
/// started there would see no scope.
public struct RequestIDMiddleware: AsyncMiddleware {
    /// The middleware.
    public init() {}

    /// Runs the rest of the chain in a new scope holding the request id.
    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let id = request.id
        // A copy of whatever context surrounds the server (usually none), so
        // that nothing this request sets is seen by another.
        return try await TaskContext.run {
            try TaskContext.set(.requestID, id)
            let response = try await next.respond(to: request)
            response.headers.replaceOrAdd(name: .xRequestId, value: id)
            return response
        }
    }
}
