import ContextStore
import ContextStoreTracing
import Foundation
import Hummingbird
import ServiceContextModule

/// Runs each request in a ContextStore scope of its own, made from the
/// request's `ServiceContext`, with the request id set.
///
/// Add it after Hummingbird's `TracingMiddleware`, which extracts the
/// request's headers through the bootstrapped `MultiplexInstrument` (the
/// tracer takes `traceparent`, ``baggage`` takes `request_id` from
/// `baggage` into `ServiceContext.taskContext`) and runs the rest of the
/// chain in its server span's context. This middleware moves that context
/// into the scope with `ServiceContextBridge`, so `TaskContext.get(.requestID)`
/// is the caller's id. A request that brought none gets the client's
/// `x-request-id`, or a new UUID. The id is echoed in the response's `x-request-id`.
public struct RequestScopeMiddleware<Context: RequestContext>: RouterMiddleware {
    private let bridge = ServiceContextBridge()

    /// The middleware; add it with `router.add(middleware: RequestScopeMiddleware())`.
    public init() {}

    /// Runs `next` in a new scope holding what the request carried in and the request id.
    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try await bridge.run(from: ServiceContext.current ?? .topLevel) {
            if TaskContext.get(.requestID) == nil {
                try TaskContext.set(.requestID, request.headers[.xRequestID] ?? UUID().uuidString)
            }
            var response = try await next(request, context)
            response.headers[.xRequestID] = TaskContext.get(.requestID)
            return response
        }
    }
}
