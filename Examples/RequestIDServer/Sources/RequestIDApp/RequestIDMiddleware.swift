import ContextStore
import Foundation
import Hummingbird

/// Runs each request in a context scope of its own, with the request id set:
/// the client's `x-request-id`, or a new UUID. The id is echoed in the
/// response's `x-request-id`.
public struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The middleware; add it with `router.add(middleware: RequestIDMiddleware())`.
    public init() {}

    /// Runs `next` in a new scope holding the request id.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let id = request.headers[.xRequestID] ?? UUID().uuidString
        // A copy of whatever context surrounds the server (usually none), so
        // that nothing this request sets is seen by another.
        return try await TaskContext.run(inheriting: .copy) {
            try TaskContext.set(.requestID, id)
            var response = try await next(request, context)
            response.headers[.xRequestID] = id
            return response
        }
    }
}
