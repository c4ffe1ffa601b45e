import Logging

/// The metadata a context value is logged as; the rules are listed on
/// ``ContextMetadataKey``.
func _metadataValue<Value>(_ value: Value) -> Logger.MetadataValue {
    switch value {
    case let metadata as Logger.MetadataValue:
        return metadata
    case let string as String:
        return .string(string)
    case let substring as Substring:
        return .string(String(substring))
    // Kept as `.stringConvertible` so that a line the handler drops never
    // pays for formatting the value.
    case let convertible as any CustomStringConvertible & Sendable:
        return .stringConvertible(convertible)
    default:
        return .string(String(describing: value))
    }
}
