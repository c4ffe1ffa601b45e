/// Something that takes a stored value with the value's own type, for the
/// package's modules that read values of any type: ContextStoreLogging
/// turns each into log metadata this way.
///
/// Why not `any Sendable`: reading a value as an existential makes one from
/// the value's dynamic type, and the reader then opens it again or casts it
/// at run time. A value tagged in the store's word (`_Stored`) has a type
/// known from its tag, and a boxed one the box's own; a visitor gets that
/// type as its generic parameter directly. (A class instance stored as
/// itself still goes through an existential, which the call opens.) (perf,
/// the logging request of
/// Benchmarks/Sources/Workloads/Request.swift: its four reads by name were
/// about 105 ns each through the existential.)
@usableFromInline
package protocol _ValueVisitor {
    associatedtype Result
    /// Takes `value`; `Value` is its dynamic type, except for a value
    /// stored through a `ContextKey<any Sendable>`, whose box holds an
    /// `any Sendable` (open it for the dynamic type).
    func visit<Value: Sendable>(_ value: Value) -> Result
}

extension TaskContext {
    /// Hands the value under `key` to `visitor`; nil when there is none.
    @inlinable
    package func _visit<Visitor: _ValueVisitor>(
        _ key: ContextKey<any Sendable>, _ visitor: Visitor
    ) -> Visitor.Result? {
        guard let id = key._readID, let stored = _map.stored(for: id) else { return nil }
        return withExtendedLifetime(_map) { _visitStored(stored, visitor) }
    }
}

/// Hands the value of the store word `raw` to `visitor` (see `_Stored`).
/// The object is borrowed: the caller keeps the word alive.
@inlinable
func _visitStored<Visitor: _ValueVisitor>(_ raw: UnsafeMutableRawPointer, _ visitor: Visitor) -> Visitor.Result {
    let bits = UInt(bitPattern: raw)
    switch bits & _Stored.tagMask {
    case 0:
        return Unmanaged<AnyObject>.fromOpaque(raw)._withUnsafeGuaranteedRef { object in
            if let box = _box(object) { return box._visit(visitor) }
            return visitor.visit(_anyObjectValue(object))
        }
    case _Stored.intTag: return visitor.visit(Int(bitPattern: bits) >> 3)
    case _Stored.boolTag: return visitor.visit(bits & 0b1000 != 0)
    default: return visitor.visit(_Stored.string(bits))
    }
}
