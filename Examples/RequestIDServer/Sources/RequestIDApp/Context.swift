import ContextStore
import ContextStoreTracing
import HTTPTypes

extension ContextKey where Value == String {
    /// The id of the request being handled: from the `x-request-id` header,
    /// or made by ``RequestIDMiddleware``, or carried in from the caller's
    /// `baggage` header.
    public static let requestID = ContextKey("request_id")
}

extension HTTPField.Name {
    /// `x-request-id`, the header a client may send its own request id in.
    public static let xRequestID = HTTPField.Name("x-request-id")!
}

/// Carries the request id, and only it, in the `baggage` header of the
/// calls this server makes.
public let baggage: W3CBaggagePropagator = {
    do {
        return try W3CBaggagePropagator(propagating: .key(.requestID))
    } catch {
        // "request_id" is a valid token, so this cannot happen.
        fatalError("W3CBaggagePropagator: \(error)")
    }
}()
