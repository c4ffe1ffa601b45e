/// A typed key into a ``TaskContext``.
///
/// Declare keys once, as static constants, so their names are interned once:
///
/// ```swift
/// extension ContextKey where Value == String {
///     static let requestID = ContextKey("request_id")
/// }
///
/// try TaskContext.set(.requestID, "4bf92f35")
/// let id: String? = TaskContext.get(.requestID)
/// ```
///
/// A typed key and a string key with the same name address the same entry:
/// `TaskContext.get("request_id")` reads what the key above wrote. Two keys
/// are equal when their names are `==`, as Swift compares strings: names
/// that are canonically equivalent ("café" spelled with "é" or with "e" and
/// a combining accent) are one key.
public struct ContextKey<Value: Sendable>: Sendable, Hashable, CustomStringConvertible {
    /// The key's name.
    ///
    /// ```swift
    /// ContextKey<Int>("retries").name  // "retries"
    /// ```
    public let name: String

    /// The interned id of `name`, or 0 if interning failed for lack of
    /// memory, in which case it is retried on use.
    @usableFromInline let _id: UInt64

    /// Makes a key named `name`. Any string is a valid name, the empty one
    /// included.
    ///
    /// ```swift
    /// let user = ContextKey<String>("user")
    /// ```
    public init(_ name: String) {
        self.name = name
        self._id = _Store.intern(name) ?? 0
    }

    /// The id to write under, interning the name now if `init` could not.
    @inlinable
    func _writeID() throws(ContextError) -> UInt64 {
        if _id != 0 { return _id }
        return try _Store.internForWrite(name)
    }

    /// The id to read under, or nil if no key of this name was ever stored.
    @inlinable
    var _readID: UInt64? {
        _id != 0 ? _id : _Store.lookup(name)
    }

    /// Keys are equal when their names are.
    ///
    /// ```swift
    /// ContextKey<Int>("a") == ContextKey<Int>("a")  // true
    /// ```
    public static func == (lhs: ContextKey, rhs: ContextKey) -> Bool {
        lhs.name == rhs.name
    }

    /// Hashes the name.
    ///
    /// ```swift
    /// let keys: Set = [ContextKey<Int>("a"), ContextKey<Int>("a")]  // one element
    /// ```
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
    }

    /// The key's name and value type, for debugging.
    ///
    /// ```swift
    /// print(ContextKey<Int>("retries"))  // ContextKey<Int>("retries")
    /// ```
    public var description: String {
        "ContextKey<\(Value.self)>(\(String(reflecting: name)))"
    }
}
