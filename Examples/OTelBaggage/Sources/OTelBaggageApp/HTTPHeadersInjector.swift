import Instrumentation
import NIOHTTP1

/// Writes a header into an AsyncHTTPClient request's `HTTPHeaders`, for
/// `InstrumentationSystem.instrument.inject`.
public struct HTTPHeadersInjector: Injector {
    /// An injector.
    public init() {}

    /// Sets the header `key` to `value`, replacing any earlier one, so that
    /// a request never carries two `traceparent` or `baggage` headers.
    public func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
