import HTTPTypes
import Instrumentation
import NIOHTTP1

/// Writes a header into an AsyncHTTPClient request's `HTTPHeaders`.
public struct HTTPHeadersInjector: Injector {
    /// An injector.
    public init() {}

    /// Sets the header `key` to `value`, replacing any earlier one.
    public func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}

/// Reads a header from a Hummingbird request's `HTTPFields`. Several fields
/// of one name are joined with ",", which is how HTTP combines them (RFC
/// 7230, section 3.2.2), and how W3C Baggage reads several `baggage` headers.
public struct HTTPFieldsExtractor: Extractor {
    /// An extractor.
    public init() {}

    /// The fields named `key`, joined with ","; nil if there is none (or
    /// `key` is not a valid field name).
    public func extract(key: String, from carrier: HTTPFields) -> String? {
        guard let name = HTTPField.Name(key) else { return nil }
        let values = carrier[values: name]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}
