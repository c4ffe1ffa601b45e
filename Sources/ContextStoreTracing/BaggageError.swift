/// Why a ``W3CBaggagePropagator`` could not be made.
///
/// ```swift
/// do {
///     _ = try W3CBaggagePropagator(propagating: .key(ContextKey<String>("request id")))
/// } catch {
///     print(error)  // invalidKey("request id")
/// }
/// ```
public enum BaggageError: Error, Sendable, Hashable {
    /// The baggage key is not an RFC 7230 token (it is empty, or holds a
    /// space, a separator or a non-ASCII character), so it cannot go in a
    /// `baggage` header. Give the field a valid key with `as:`.
    case invalidKey(String)
    /// Two fields have this baggage key.
    case duplicateKey(String)
}
