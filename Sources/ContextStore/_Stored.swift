import CContextStoreSPI

/// How a value is stored: one word, which the C store keeps as an opaque
/// `void *` and hands to the store's retain and release callbacks.
///
/// - A class instance is stored as itself, retained (no box).
/// - An `Int` that fits in 61 bits, a `Bool`, a `String` of at most 7
///   UTF-8 bytes, and a string literal of 16 to 1,023 bytes are stored in
///   the word itself, tagged in its low three bits. A Swift object is
///   16-byte aligned, so an object pointer has those bits clear. A tagged
///   word is no object: the callbacks skip it, and it costs no allocation.
///   (Objective-C's tagged pointers and NSTaggedPointerString do the same.)
/// - Any other value goes in a `_Box`: among them a String of 8 to 15
///   bytes (a small string, literal or not: its bytes fill both words) and
///   a String built at run time of more than 15.
///
/// Why: the request-shaped workload writes two short Strings and an Int
/// per request and one more Int in its child, and each box was an
/// allocation, a free and an object's set-up and teardown: callgrind,
/// a request's scope with its four writes (`make callgrind
/// CALLGRIND_OPS=request-writes`), ~1,100 of its instructions were the
/// four boxes.
///
/// A String is tagged only when `_checkStringKeys` has confirmed the
/// standard library's string layout (see `_KeyName.swift`: small strings
/// carry their bytes, literals the immortal bit), and only when the word
/// keeps both of the String's words exactly, so reading it back gives the
/// same bits the standard library made (`tag(words:)` checks every bit it
/// drops against what is put back).
///
/// Why literals: a literal of more than 15 bytes is immortal (its words
/// point to bytes in the binary, and the standard library never counts
/// references to it), so its words can be kept without retaining anything,
/// and they fit in one word: the address in 50 bits, the count in 10 and
/// whether it is ASCII in 1 (a literal's flags are one of two patterns). A
/// value that code spells as a literal (a route, a status message, an id
/// in a test) then costs no box. (The request workload, whose `request_id`
/// is a 32-byte literal: callgrind, its scope and four writes, 3,765 ->
/// 3,445 instructions.) A String built at run time
/// points to heap storage that it must keep alive, so it stays boxed.
@usableFromInline
struct _Stored {
    /// The word the store holds.
    @usableFromInline let raw: UnsafeMutableRawPointer
    /// The object `raw` points to, if it is one, kept alive until the
    /// store has retained it.
    @usableFromInline let object: AnyObject?

    @usableFromInline init(object: AnyObject) {
        self.raw = Unmanaged.passUnretained(object).toOpaque()
        self.object = object
    }

    /// `body` of the word, with the object it points to, if any, kept
    /// alive until `body` returns: the store retains a value itself, but
    /// only once `body` has handed it over, and an inlined caller would
    /// otherwise let the optimiser release the object first.
    @inlinable @inline(__always)
    func withRaw<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        withExtendedLifetime(object) { body(raw) }
    }

    @usableFromInline init(tagged bits: UInt) {
        // Never zero: a tag has a low bit set.
        self.raw = UnsafeMutableRawPointer(bitPattern: bits)!
        self.object = nil
    }

    // MARK: Tags (the low three bits of a tagged word)

    @usableFromInline static let tagMask: UInt = 0b111
    /// `Int`: the value in the upper 61 bits, sign-extended on the way out.
    @usableFromInline static let intTag: UInt = 0b001
    /// `Bool`: the value in bit 3.
    @usableFromInline static let boolTag: UInt = 0b011
    /// `String` of at most 7 UTF-8 bytes: bit 3 ASCII, bits 4-6 the count,
    /// bits 8-63 the bytes.
    @usableFromInline static let stringTag: UInt = 0b101
    /// `String`, a literal of more than 15 bytes: bit 3 ASCII, bits 4-13
    /// the count, bits 14-63 the address its second word holds below its
    /// discriminator byte, which is `literalTop`.
    @usableFromInline static let literalTag: UInt = 0b111
    /// The discriminator byte of a literal's second word that `tag` takes:
    /// immortal, large, native UTF-8 (not bridged, not foreign).
    @usableFromInline static let literalTop: UInt64 = 0x80
    /// The flags (the top 16 bits of the first word) of an ASCII literal:
    /// ASCII, NFC, tail-allocated. A literal that is not ASCII has only
    /// tail-allocated (`literalFlags`); `tag` takes no other.
    @usableFromInline static let asciiLiteralFlags: UInt64 = 0xD000
    /// The flags of a literal that is not ASCII.
    @usableFromInline static let literalFlags: UInt64 = 0x1000

    /// Whether the store word `raw` is an object pointer (not a tagged value).
    @inlinable @inline(__always)
    static func isObject(_ raw: UnsafeRawPointer) -> Bool {
        UInt(bitPattern: raw) & tagMask == 0
    }

    // MARK: Strings

    /// The tagged word of `string`, if it is a small string of at most 7
    /// bytes (its bytes in the first word, only the discriminator and count
    /// in the second) or a literal whose words fit (see `literalTag`); else
    /// nil.
    @inlinable @inline(__always)
    static func tag(_ string: String) -> UInt? {
        #if _pointerBitWidth(_64)
            guard let words = _stringWords(string) else { return nil }
            return tag(words: words)
        #else
            return nil
        #endif
    }

    /// `tag(_:)` of a String's two words, on a platform where the layout
    /// holds. Every bit that the tagged word drops is checked to be what
    /// `smallString` or `literal` puts back, so either rebuilds both words
    /// exactly.
    #if _pointerBitWidth(_64)
        @inlinable @inline(__always)
        static func tag(words: (UInt64, UInt64)) -> UInt? {
            let (bytes, object) = words
            let top = object >> 56
            if top == literalTop {
                let flags = bytes >> 48
                let count = bytes & 0xFFFF_FFFF_FFFF
                let address = object & 0xFF_FFFF_FFFF_FFFF
                guard flags == asciiLiteralFlags || flags == literalFlags, count < 1 << 10, address < 1 << 50 else {
                    return nil
                }
                let ascii: UInt64 = flags == asciiLiteralFlags ? 1 : 0
                return UInt(address << 14 | count << 4 | ascii << 3) | literalTag
            }
            // The discriminator byte: immortal (bit 7), small (bit 5), ASCII
            // (bit 6, either way), bit 4 clear, and a count below 8.
            guard object << 8 == 0, bytes >> 56 == 0, top & 0xB8 == 0xA0 else { return nil }
            let ascii = (top >> 6) & 1
            let count = top & 0b111
            return UInt(bytes << 8 | count << 4 | ascii << 3) | stringTag
        }
    #endif

    /// The String a `stringTag` or `literalTag` word holds.
    @inlinable
    static func string(_ bits: UInt) -> String {
        bits & tagMask == literalTag ? literal(bits) : smallString(bits)
    }

    /// The String a `stringTag` word holds.
    @inlinable @inline(__always)
    static func smallString(_ bits: UInt) -> String {
        let word = UInt64(bits)
        let count = (word >> 4) & 0b111
        let ascii = (word >> 3) & 1
        let object = (0xA0 | ascii << 6 | count) << 56
        return unsafeBitCast((word >> 8, object), to: String.self)
    }

    /// The String a `literalTag` word holds.
    @usableFromInline
    static func literal(_ bits: UInt) -> String {
        unsafeBitCast(literalWords(bits), to: String.self)
    }

    /// The two words of the String a `literalTag` word holds.
    @inlinable @inline(__always)
    static func literalWords(_ bits: UInt) -> (UInt64, UInt64) {
        let word = UInt64(bits)
        let flags = (word >> 3) & 1 == 1 ? asciiLiteralFlags : literalFlags
        let count = (word >> 4) & 0x3FF
        return (flags << 48 | count, literalTop << 56 | word >> 14)
    }

    /// A tagged word's value as an existential.
    @usableFromInline
    static func taggedValue(_ bits: UInt) -> any Sendable {
        switch bits & tagMask {
        case intTag: return Int(bitPattern: bits) >> 3
        case boolTag: return bits & 0b1000 != 0
        default: return string(bits)
        }
    }
}

/// The stored form of `value` (see `_Stored`). An existential is opened
/// first (by the generic call), so a value held in `any Sendable` is stored
/// the same way as the value itself.
@inlinable
func _encode<Value: Sendable>(_ value: Value) -> _Stored {
    if Value.self == Int.self {
        let int = unsafeBitCast(value, to: Int.self)
        if (int << 3) >> 3 == int { return _Stored(tagged: UInt(bitPattern: int << 3) | _Stored.intTag) }
    } else if Value.self == Bool.self {
        return _Stored(tagged: (unsafeBitCast(value, to: Bool.self) ? 0b1000 : 0) | _Stored.boolTag)
    } else if Value.self == String.self {
        if let bits = _Stored.tag(unsafeBitCast(value, to: String.self)) { return _Stored(tagged: bits) }
    } else if Value.self is AnyClass {
        // Same size and bits: a class-typed value is one strong reference.
        return _Stored(object: unsafeBitCast(value, to: AnyObject.self))
    }
    return _Stored(object: _Box(value))
}

/// Reads the store word `raw` as `Value`: for an object, a class-pointer
/// compare for the exact type (the instance's class, or `_Box<Value>`);
/// for a tagged word, its tag; else, out of line, a dynamic cast of the
/// existential (for subclasses, existential or optional `Value`s). Returns
/// nil when the stored value is of another type. The object is borrowed,
/// not retained: the caller keeps the word alive (a slot's lock, or a map
/// it holds).
@inlinable
func _decode<Value: Sendable>(_ raw: UnsafeMutableRawPointer, as _: Value.Type) -> Value? {
    let bits = UInt(bitPattern: raw)
    if bits & _Stored.tagMask == 0 {
        // Comparing the class pointer costs a load and a compare; `as?`
        // would call into the runtime (swift_dynamicCastClass) every read.
        let exact: Value? = Unmanaged<AnyObject>.fromOpaque(raw)._withUnsafeGuaranteedRef { object in
            if Value.self is AnyClass {
                if ObjectIdentifier(type(of: object)) == ObjectIdentifier(Value.self) {
                    return unsafeBitCast(object, to: Value.self)
                }
            } else if ObjectIdentifier(type(of: object)) == ObjectIdentifier(_Box<Value>.self) {
                return unsafeDowncast(object, to: _Box<Value>.self).value
            }
            return nil
        }
        if let exact { return exact }
    } else if Value.self == Int.self {
        return bits & _Stored.tagMask == _Stored.intTag
            ? unsafeBitCast(Int(bitPattern: bits) >> 3, to: Value.self) : nil
    } else if Value.self == String.self {
        if bits & _Stored.tagMask == _Stored.stringTag {
            return unsafeBitCast(_Stored.smallString(bits), to: Value.self)
        }
        if bits & _Stored.tagMask != _Stored.literalTag { return nil }
        // A literal: out of line, in `_decodeByCast`. Inline here, its
        // decoding made `_decode` too big to be inlined into a typed read of
        // any type (callgrind, `get` of a class value: 182 -> 193
        // instructions).
    } else if Value.self == Bool.self {
        return bits & _Stored.tagMask == _Stored.boolTag ? unsafeBitCast(bits & 0b1000 != 0, to: Value.self) : nil
    }
    return _decodeByCast(raw, as: Value.self)
}

/// The slow half of `_decode`: the value as an existential, cast to
/// `Value`. Out of line, so that a typed read that inlines `_decode` stays
/// small (callgrind, `get`: 198 instructions inlined, 241 when the cast was
/// inlined too and the read no longer was).
/// A literal read as a `String` takes this path too, without the cast.
@usableFromInline @inline(never)
func _decodeByCast<Value: Sendable>(_ raw: UnsafeMutableRawPointer, as _: Value.Type) -> Value? {
    let bits = UInt(bitPattern: raw)
    if Value.self == String.self && bits & _Stored.tagMask == _Stored.literalTag {
        return unsafeBitCast(_Stored.literal(bits), to: Value.self)
    }
    return _anyValue(raw) as? Value
}

/// The value of the store word `raw` as an existential.
@inlinable
func _anyValue(_ raw: UnsafeMutableRawPointer) -> any Sendable {
    let bits = UInt(bitPattern: raw)
    if bits & _Stored.tagMask != 0 { return _Stored.taggedValue(bits) }
    return Unmanaged<AnyObject>.fromOpaque(raw)._withUnsafeGuaranteedRef { _anyObjectValue($0) }
}

/// The value of the store word `raw` as `get(_:)` returns it: `_anyValue`'s
/// value, with a class instance's existential written straight into the
/// result, word by word, once `_checkClassLayout` has confirmed the layout
/// (the instance in the first word of the three-word buffer, its dynamic
/// type after them). Made by Swift from an `AnyObject` (`_anyObjectValue`),
/// the existential was moved three times on its way out (callgrind,
/// `get-name`: 346 -> 306 instructions; Ratios, 32-byte names: 1.46 ->
/// 1.16 times the typed read, where that read returned as
/// `(any Sendable)?` is 1.14 to 1.17).
@inlinable @inline(__always)
func _optionalAnyValue(_ raw: UnsafeMutableRawPointer) -> (any Sendable)? {
    let bits = UInt(bitPattern: raw)
    guard bits & _Stored.tagMask == 0, let boxClass = ctxs_swift_box_class_get() else { return _anyValue(raw) }
    let object = Unmanaged<AnyObject>.fromOpaque(raw)
    if let box = object._withUnsafeGuaranteedRef({ _box($0, boxClass: boxClass) }) { return box.anyValue }
    var value: (any Sendable)? = nil
    withUnsafeMutableBytes(of: &value) { _writeExistential(of: object.retain(), to: $0) }
    return value
}

/// Writes the words of an `Any` (or `any Sendable`, the same layout)
/// holding `object`, taking over the reference given, into `bytes`: the
/// layout `_checkClassLayout` confirms.
@inlinable @inline(__always)
func _writeExistential(of object: Unmanaged<AnyObject>, to bytes: UnsafeMutableRawBufferPointer) {
    let dynamicType: AnyClass = object._withUnsafeGuaranteedRef { type(of: $0) }
    bytes.storeBytes(of: object.toOpaque(), as: UnsafeMutableRawPointer.self)
    bytes.storeBytes(
        of: unsafeBitCast(dynamicType, to: UnsafeRawPointer.self), toByteOffset: _existentialTypeOffset,
        as: UnsafeRawPointer.self)
}

/// Where an existential keeps its value's type: after its three-word buffer.
@inlinable var _existentialTypeOffset: Int { 3 * MemoryLayout<UnsafeRawPointer>.size }

/// A stored object's value as an existential.
@inlinable
func _anyObjectValue(_ object: AnyObject) -> any Sendable {
    if let box = _box(object) { return box.anyValue }
    // A class instance stored by `_encode`, which took it as a `Sendable`
    // value, so it is one. `Any` and `any Sendable` share one layout (a
    // marker protocol adds no witness table), which the bit cast relies on;
    // `ValueStorageTests` checks the round trips.
    // Made in place: a bit cast of `object as Any` copied the existential
    // and destroyed the original (callgrind, `get-name`: 499 -> 454).
    return withUnsafeTemporaryAllocation(of: (any Sendable).self, capacity: 1) { buffer in
        let slot = buffer.baseAddress!
        UnsafeMutableRawPointer(slot).initializeMemory(as: Any.self, to: object)
        return slot.move()
    }
}

/// `object` as a box, if it is one. A box's class is a `_Box<Value>`, whose
/// superclass is `_AnyBox` (no one else can subclass it): one metadata
/// read, where `as? _AnyBox` costs a dynamic cast and a retain.
///
/// The superclass is read from the class's metadata itself, its second
/// word, once `_checkClassLayout` has confirmed that layout here (so on
/// Linux; where Swift classes interoperate with Objective-C, a root class
/// has `SwiftObject` in that word while `_getSuperclass` says it has none,
/// so the check fails and the runtime is asked). `_getSuperclass` is a call
/// into the runtime: callgrind, a read by name of a class value
/// (`get-name`), 372 -> 346 instructions.
@inlinable @inline(__always)
func _box(_ object: AnyObject) -> _AnyBox? {
    _box(object, boxClass: ctxs_swift_box_class_get())
}

/// `_box`, given the published `ctxs_swift_box_class` (read once by a
/// caller that also needs it).
@inlinable @inline(__always)
func _box(_ object: AnyObject, boxClass: UnsafeRawPointer?) -> _AnyBox? {
    let type: AnyClass = type(of: object)
    let isBox = boxClass != nil ? _superclassWord(type) == boxClass : _isBoxClass(type)
    return isBox ? unsafeDowncast(object, to: _AnyBox.self) : nil
}

/// `_box`'s test where the metadata is not read: out of line, so that it
/// does not make the test it stands in for bigger (inline, a read by name
/// took 367 instructions instead of 346, though it never ran).
@usableFromInline @inline(never)
func _isBoxClass(_ type: AnyClass) -> Bool {
    ObjectIdentifier(_getSuperclass(type) ?? AnyObject.self) == ObjectIdentifier(_AnyBox.self)
}

/// The second word of `type`'s metadata: its superclass, where
/// `_checkClassLayout` says so.
@inlinable @inline(__always)
func _superclassWord(_ type: AnyClass) -> UnsafeRawPointer? {
    unsafeBitCast(type, to: UnsafeRawPointer.self)
        .load(fromByteOffset: MemoryLayout<UnsafeRawPointer>.size, as: UnsafeRawPointer?.self)
}

/// Whether `_box` may read a class's superclass from its metadata's second
/// word, and `_optionalAnyValue` write a class instance's existential itself.
/// The word must hold `_AnyBox` for boxes of any value, and the runtime's
/// answer for other classes (a root class, a subclass), so that no class
/// but a box's can pass for one. An existential written by
/// `_writeExistential` must be, word for word, the one Swift makes of an
/// instance (as an `Any` and as a `(any Sendable)?`), and must cast back to
/// the instance's own class and its superclass. One published pointer says
/// both (`ctxs_swift_box_class`): where either check fails, neither fast
/// path is taken.
func _checkClassLayout() -> Bool {
    _checkSuperclassWord() && _checkExistentialLayout()
}

func _checkExistentialLayout() -> Bool {
    #if canImport(ObjectiveC)
        // An Objective-C instance's existential holds a wrapper's metadata,
        // not its class object: `_writeExistential` is for Swift classes.
        return false
    #else
        final class Root: Sendable {}
        class Base: @unchecked Sendable {}  // Safe: no state.
        final class Derived: Base, @unchecked Sendable {}  // Safe: no state.
        guard MemoryLayout<Any>.size == _existentialTypeOffset + MemoryLayout<UnsafeRawPointer>.size,
            MemoryLayout<(any Sendable)?>.size == MemoryLayout<Any>.size
        else { return false }
        func written(_ object: AnyObject) -> (any Sendable)? {
            var value: (any Sendable)? = nil
            withUnsafeMutableBytes(of: &value) { _writeExistential(of: Unmanaged.passRetained(object), to: $0) }
            return value
        }
        // The value's word and the type's word (the rest of the buffer is
        // unused for a class instance).
        func words<Existential>(_ value: Existential) -> [UInt] {
            withUnsafeBytes(of: value) {
                [$0.load(as: UInt.self), $0.load(fromByteOffset: _existentialTypeOffset, as: UInt.self)]
            }
        }
        let root = Root()
        let made: (any Sendable)? = root
        // The words first: an existential of another layout must not be used,
        // not even destroyed.
        guard words(made) == [UInt(bitPattern: ObjectIdentifier(root)), UInt(bitPattern: ObjectIdentifier(Root.self))],
            words(written(root)) == words(made), words(root as Any) == words(made)
        else { return false }
        // Swift may record a subclass instance's static type, where this writes
        // its dynamic one: either reads back the same.
        let derived = Derived()
        let viaBase = written(derived as Base)
        return (written(root) as? Root) === root && (viaBase as? Derived) === derived && (viaBase as? Base) === derived
            && viaBase.map { type(of: $0) } == Derived.self
    #endif
}

func _checkSuperclassWord() -> Bool {
    final class Root {}
    class Base {}
    final class Derived: Base {}
    func agrees(_ type: AnyClass) -> Bool {
        _superclassWord(type) == _getSuperclass(type).map { unsafeBitCast($0, to: UnsafeRawPointer.self) }
    }
    let anyBox = unsafeBitCast(_AnyBox.self, to: UnsafeRawPointer.self)
    return _superclassWord(_Box<Int>.self) == anyBox && _superclassWord(_Box<[String]>.self) == anyBox
        && _superclassWord(_Box<String>.self) == anyBox && agrees(_Box<Int>.self) && agrees(Derived.self)
        && agrees(Root.self) && _superclassWord(Root.self) != anyBox && _superclassWord(Derived.self) != anyBox
}

/// The box of a value that is neither a class instance nor tagged.
@usableFromInline
class _AnyBox: @unchecked Sendable {
    // Safe: this class has no stored state, and its only subclass, `_Box`,
    // holds one immutable `let` of a `Sendable` type.
    @usableFromInline init() {}

    /// The value as an existential, for string-keyed reads.
    @usableFromInline var anyValue: any Sendable { () }

    /// Hands the value to `visitor` with its own type (see `_ValueVisitor`).
    @usableFromInline func _visit<Visitor: _ValueVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.visit(anyValue)
    }
}

@usableFromInline
final class _Box<Value: Sendable>: _AnyBox, @unchecked Sendable {
    // Safe: `value` is an immutable `let` of a `Sendable` type.
    @usableFromInline let value: Value

    @usableFromInline init(_ value: Value) {
        self.value = value
    }

    @usableFromInline override var anyValue: any Sendable { value }

    @usableFromInline override func _visit<Visitor: _ValueVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.visit(value)
    }
}
