/// What a key's name is, in the store: the UTF-8 bytes of its canonical
/// composition (Unicode NFC). Swift compares strings by canonical
/// equivalence, so two names that are `==` (say "café" with a precomposed
/// "é" and "café" with "e" and a combining acute accent) must be one key, as
/// they are one key of a `Dictionary<String, _>`; NFC is the one spelling
/// of each class of equivalent strings. Names that are not `==` stay apart:
/// case, NUL bytes, the empty name, and compatibility forms ("ﬁ" and "fi"),
/// which NFC leaves alone.
///
/// ASCII is its own NFC, so an ASCII name (every name in practice) is
/// passed on as it is, after a scan of its bytes a word at a time; only a
/// name with a non-ASCII byte is normalised, which allocates.
///
/// The C API takes exact bytes and normalises nothing: a C caller meets a
/// Swift name by passing its NFC bytes.
@inlinable
func _withKeyNameBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    var name = name
    let ascii: R? = name.withUTF8 { bytes in
        _isASCII(UnsafeRawBufferPointer(bytes)) ? body(UnsafeRawBufferPointer(bytes)) : nil
    }
    if let ascii { return ascii }
    // The standard library's own normaliser (the one `==` and hashing use).
    return name._nfcCodeUnits.withUnsafeBytes(body)
}

/// Whether every byte is below 0x80, eight at a time.
@inlinable
func _isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let count = bytes.count
    while i + 8 <= count {
        if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < count {
        if bytes[i] >= 0x80 { return false }
        i += 1
    }
    return true
}
