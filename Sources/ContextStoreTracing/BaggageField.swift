import ContextStore

/// A context key that ``W3CBaggagePropagator`` carries across processes in
/// the `baggage` header, under a baggage key, with a way to write its value
/// as a string and read it back.
///
/// ```swift
/// let requestID = ContextKey<String>("request_id")
/// let attempt = ContextKey<Int>("attempt")
///
/// let propagator = try W3CBaggagePropagator(propagating:
///     .key(requestID),                      // baggage: request_id=...
///     .key(attempt, as: "retry-attempt")    // baggage: retry-attempt=2
/// )
/// ```
///
/// The value goes on the wire as its string (percent-encoded by the
/// propagator), and comes back through the field's decoder: a received
/// value the decoder rejects (say `attempt=abc` for an `Int`) is dropped.
public struct BaggageField: Sendable {
    /// The name of the context key.
    ///
    /// ```swift
    /// BaggageField.key(ContextKey<String>("request_id"), as: "rid").contextName  // "request_id"
    /// ```
    public let contextName: String

    /// The key in the `baggage` header.
    ///
    /// ```swift
    /// BaggageField.key(ContextKey<String>("request_id"), as: "rid").baggageKey  // "rid"
    /// ```
    public let baggageKey: String

    /// The value's string in `context`, or nil when absent (or not encodable).
    let read: @Sendable (TaskContext) -> String?

    /// Decodes `string` and sets the key in `context`; false when the
    /// decoder rejects it.
    let write: @Sendable (String, inout TaskContext) -> Bool

    /// Carries `key` under `baggageKey` (by default the key's name), as the
    /// value's `description`, decoded with `Value(_:)`.
    ///
    /// ```swift
    /// let tenant = ContextKey<String>("tenant")
    /// let field = BaggageField.key(tenant)
    /// ```
    public static func key<Value: LosslessStringConvertible>(
        _ key: ContextKey<Value>,
        as baggageKey: String? = nil
    ) -> BaggageField {
        Self.key(key, as: baggageKey, encode: { $0.description }, decode: { Value($0) })
    }

    /// Carries `key` under `baggageKey` (by default the key's name), with
    /// your own encoding. `encode` returning nil leaves the key out of the
    /// header; `decode` returning nil drops a received value.
    ///
    /// ```swift
    /// let user = ContextKey<User>("user")
    /// let field = BaggageField.key(user, as: "user_id",
    ///     encode: { $0.id },
    ///     decode: { User(id: $0) })
    /// ```
    public static func key<Value>(
        _ key: ContextKey<Value>,
        as baggageKey: String? = nil,
        encode: @escaping @Sendable (Value) -> String?,
        decode: @escaping @Sendable (String) -> Value?
    ) -> BaggageField {
        BaggageField(
            contextName: key.name,
            baggageKey: baggageKey ?? key.name,
            read: { context in context[key].flatMap(encode) },
            write: { string, context in
                guard let value = decode(string) else { return false }
                context[key] = value
                return true
            })
    }
}
