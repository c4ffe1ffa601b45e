import ContextStore
import Logging

/// The metadata a context value is logged as; the rules are listed on
/// ``ContextMetadataKey``.
///
/// The common types are told by a metadata compare first, and an
/// existential (a value read by name is an `any Sendable`) is opened to its
/// dynamic type: each `as?` below is a runtime cast, and from an existential
/// to a protocol a conformance lookup. (perf, the logging request of
/// Benchmarks/Sources/Workloads/Request.swift: making its metadata, four
/// values read by name, was about a quarter of the request, most of it in
/// `swift_dynamicCast`.)
func _metadataValue<Value>(_ value: Value) -> Logger.MetadataValue {
    if let known = _knownMetadataValue(value) { return known }
    if Value.self == (any Sendable).self { return _openedMetadataValue(_same(value, as: (any Sendable).self)) }
    return _castMetadataValue(value)
}

/// Turns a value read by name into metadata, given with its own type (see
/// `_ValueVisitor`), so that no existential is made for it.
struct _MetadataVisitor: _ValueVisitor {
    func visit<Value: Sendable>(_ value: Value) -> Logger.MetadataValue { _metadataValue(value) }
}

/// `_metadataValue` of an existential's contents: opened, `Value` is the
/// dynamic type, never `any Sendable` again.
private func _openedMetadataValue(_ value: any Sendable) -> Logger.MetadataValue {
    func opened<Dynamic: Sendable>(_ value: Dynamic) -> Logger.MetadataValue { _metadataValue(value) }
    return opened(value)
}

/// The metadata of a value whose type is one of the common ones, found by
/// comparing `Value` (each `_same` is to `Value` itself); nil for others.
/// The result is what `_castMetadataValue` makes of the same value.
@inline(__always)
private func _knownMetadataValue<Value>(_ value: Value) -> Logger.MetadataValue? {
    if Value.self == String.self { return .string(_same(value, as: String.self)) }
    if Value.self == Int.self { return .stringConvertible(_same(value, as: Int.self)) }
    if Value.self == Bool.self { return .stringConvertible(_same(value, as: Bool.self)) }
    if Value.self == Logger.MetadataValue.self { return _same(value, as: Logger.MetadataValue.self) }
    return nil
}

/// `value`, whose type the caller has checked is `Other`, as an `Other`: a
/// copy that only tells the compiler so. (Not `unsafeBitCast`: in a release
/// build of this package, its size check trapped, with both sizes 32, in an
/// unspecialised generic casting `any Sendable` to a `Value` that was
/// `any Sendable`; a standalone reduction did not trap, so the cause is not
/// known, and this avoids the check.)
@inline(__always)
private func _same<Value, Other>(_ value: Value, as _: Other.Type) -> Other {
    withUnsafePointer(to: value) { UnsafeRawPointer($0).assumingMemoryBound(to: Other.self).pointee }
}

/// The rules, by dynamic cast.
private func _castMetadataValue<Value>(_ value: Value) -> Logger.MetadataValue {
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
