import ContextStore
import ContextStoreTracing
import HTTPTypes

extension ContextKey where Value == String {
    /// The id of the request being handled: carried in from the caller's
    /// `baggage` header, or the client's `x-request-id`, or a new UUID (see
    /// ``RequestScopeMiddleware``).
    public static let requestID = ContextKey("request_id")
}

extension HTTPField.Name {
    /// `x-request-id`, the header a client may send its own request id in.
    public static let xRequestID = HTTPField.Name("x-request-id")!
    /// `traceparent`, the W3C Trace Context header that swift-otel's tracer
    /// writes and reads.
    public static let traceparent = HTTPField.Name("traceparent")!
    /// `baggage`, the W3C Baggage header that `W3CBaggagePropagator` writes and reads.
    public static let baggage = HTTPField.Name("baggage")!
}

/// Carries the request id, and only it, in the `baggage` header: the second
/// instrument of the `MultiplexInstrument` that ``bootstrapTracing(configuration:environment:)``
/// bootstraps, beside swift-otel's tracer.
public let baggage: W3CBaggagePropagator = {
    do {
        return try W3CBaggagePropagator(propagating: .key(.requestID))
    } catch {
        // "request_id" is a valid token, so this cannot happen.
        fatalError("W3CBaggagePropagator: \(error)")
    }
}()
