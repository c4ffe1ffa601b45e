import ContextStore
import Logging

/// A context key to copy into every log line, and the metadata key it appears under.
///
/// Make one from a key's name or from a typed `ContextKey`, and
/// hand it to `Logger.MetadataProvider.contextStore(_:)`:
///
/// ```swift
/// let requestID = ContextKey<String>("request_id")
///
/// let provider = Logger.MetadataProvider.contextStore(
///     .key(requestID),              // logged as "request_id"
///     .name("user_id", as: "user"), // any value stored under "user_id", logged as "user"
///     "tenant"                      // a string literal is `.name("tenant")`
/// )
/// ```
///
/// A key with no value in the logging task's context adds nothing to the line.
///
/// ## How values become metadata
///
/// Unless a key is made with a `transform`, its value becomes a
/// `Logger.MetadataValue` like this:
/// - a `Logger.MetadataValue` is used as it is;
/// - a `String` (or `Substring`) becomes `.string`;
/// - any other `CustomStringConvertible` value becomes `.stringConvertible`,
///   which a log handler formats as the value's `description`, and only when
///   it formats the line;
/// - any other value becomes `.string(String(describing: value))`.
public struct ContextMetadataKey: Sendable {
    /// The name of the context key that is read.
    ///
    /// ```swift
    /// ContextMetadataKey.name("user_id", as: "user").contextName  // "user_id"
    /// ```
    public let contextName: String

    /// The metadata key the value is logged under.
    ///
    /// ```swift
    /// ContextMetadataKey.name("user_id", as: "user").label  // "user"
    /// ```
    public let label: String

    /// Reads the value from a context and converts it; nil when absent.
    let read: @Sendable (TaskContext) -> Logger.MetadataValue?

    /// Logs whatever value is stored under `name`, whatever its type, under
    /// `label` (by default `name` itself).
    ///
    /// ```swift
    /// let provider = Logger.MetadataProvider.contextStore(.name("request_id"))
    /// ```
    public static func name(_ name: String, as label: String? = nil) -> ContextMetadataKey {
        // A typed key interns the name once, here, so that reading it does
        // not hash the name again.
        let key = ContextKey<any Sendable>(name)
        return ContextMetadataKey(contextName: name, label: label ?? name) { context in
            context._visit(key, _MetadataVisitor())
        }
    }

    /// Logs the value of `key` under `label` (by default the key's name).
    /// A value stored under the key's name with another type is not logged,
    /// as a typed read of it returns nil.
    ///
    /// ```swift
    /// let attempt = ContextKey<Int>("attempt")
    /// let provider = Logger.MetadataProvider.contextStore(.key(attempt))  // attempt=2
    /// ```
    public static func key<Value>(_ key: ContextKey<Value>, as label: String? = nil) -> ContextMetadataKey {
        ContextMetadataKey(contextName: key.name, label: label ?? key.name) { context in
            context[key].map(_metadataValue)
        }
    }

    /// Logs the value of `key` under `label` (by default the key's name), as
    /// `transform` makes it. When `transform` returns nil, the line gets no
    /// entry for this key.
    ///
    /// ```swift
    /// let user = ContextKey<User>("user")
    /// let provider = Logger.MetadataProvider.contextStore(
    ///     .key(user, as: "user_id") { .string($0.id) }
    /// )
    /// ```
    public static func key<Value>(
        _ key: ContextKey<Value>,
        as label: String? = nil,
        _ transform: @escaping @Sendable (Value) -> Logger.MetadataValue?
    ) -> ContextMetadataKey {
        ContextMetadataKey(contextName: key.name, label: label ?? key.name) { context in
            context[key].flatMap(transform)
        }
    }
}

extension ContextMetadataKey: ExpressibleByStringLiteral {
    /// A string literal is the key's name: `"request_id"` is `.name("request_id")`.
    ///
    /// ```swift
    /// let provider = Logger.MetadataProvider.contextStore("request_id", "user_id")
    /// ```
    public init(stringLiteral name: String) {
        self = .name(name)
    }
}
