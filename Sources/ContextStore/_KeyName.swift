import CContextStore
import CContextStoreSPI

/// What a key's name is, in the store: the UTF-8 bytes of its canonical
/// composition (Unicode NFC). Swift compares strings by canonical
/// equivalence, so two names that are `==` (say "café" with a precomposed
/// "é" and "café" with "e" and a combining acute accent) must be one key, as
/// they are one key of a `Dictionary<String, _>`; NFC is the one spelling
/// of each class of equivalent strings. Names that are not `==` stay apart:
/// case, NUL bytes, the empty name, and compatibility forms ("ﬁ" and "fi"),
/// which NFC leaves alone.
///
/// A string whose scalars are all below U+0300 is its own NFC (no scalar
/// there changes under NFC, and none composes with another: the first
/// combining mark is U+0300), so such a name (every ASCII name, and Latin-1
/// ones such as "café" spelled with "é") is passed on as it is, after a scan
/// of its bytes, eight at a time while they are ASCII; any other name is
/// normalised, which allocates.
///
/// The C API takes exact bytes and normalises nothing: a C caller meets a
/// Swift name by passing its NFC bytes.
///
/// `body` also learns whether the bytes are the string's own (its storage's
/// UTF-8, already NFC), which is when a heap string may cache its id under
/// its own words (see `_checkedCacheKey`).
@inlinable
func _withKeyNameBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer, _ own: Bool) -> R) -> R {
    // In place, where the string has contiguous UTF-8 (a native one): a
    // `var` copy for `withUTF8` cost a retain and a release of its storage
    // on every name that missed the cache.
    let trivial: R?? = name.utf8.withContiguousStorageIfAvailable { bytes in
        _isTriviallyNFC(UnsafeRawBufferPointer(bytes)) ? body(UnsafeRawBufferPointer(bytes), true) : nil
    }
    if let trivial, let result = trivial { return result }
    // The standard library's own normaliser (the one `==` and hashing use).
    let nfc = name._nfcCodeUnits
    let own = trivial != nil && nfc.elementsEqual(name.utf8)
    return nfc.withUnsafeBytes { body($0, own) }
}

/// Whether the UTF-8 `bytes` encode only scalars below U+0300: every byte
/// is below 0xCC (0xCC is the lead byte of U+0300 ... U+033F, and every
/// higher scalar has a higher lead byte). Eight bytes at a time while they
/// are ASCII.
@inlinable
func _isTriviallyNFC(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let count = bytes.count
    while i + 8 <= count {
        if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
        i += 8
    }
    while i < count {
        if bytes[i] >= 0xCC { return false }
        i += 1
    }
    return true
}

/// A name's cache key (see `ctxs_intern_cache_find`): the String's own two
/// words, when they determine its contents. A small string (up to 15 UTF-8
/// bytes on 64-bit platforms) holds its bytes in those words; an immortal
/// one (a literal) points to storage that is never freed. Any other
/// string's words point to heap storage whose address a later string may
/// reuse, so it has no key here (see `_checkedCacheKey`). Two strings with
/// the same key are the same string, so they have the same name bytes.
@inlinable @inline(__always)
func _cacheKey(_ name: String) -> (UInt64, UInt64)? {
    guard let words = _stringWords(name), _wordsFixBytes(words) else { return nil }
    return words
}

/// Whether a String's two words determine its bytes (a small or an
/// immortal string): what makes them a `_cacheKey`, and what `_Store.lookup`
/// tests before it probes the cache inline.
@inlinable @inline(__always)
func _wordsFixBytes(_ words: (UInt64, UInt64)) -> Bool {
    words.1 & (_isSmallBit | _isImmortalBit) != 0
}

/// A heap string's cache key: its two words, which do not fix its bytes:
/// a string made later may reuse its storage's address once it is freed,
/// and a uniquely referenced `var` edited in place keeps its words with
/// other bytes. So it is looked up with its bytes compared
/// (`ctxs_intern_cache_find_checked`, in a table of its own): a name built
/// at run time and read again (from a configuration, a header name made
/// once) finds its id without hashing its bytes. nil for the strings
/// `_cacheKey` keys.
@inlinable @inline(__always)
func _checkedCacheKey(_ name: String) -> (UInt64, UInt64)? {
    guard let words = _stringWords(name), !_wordsFixBytes(words) else { return nil }
    return words
}

/// A String's two words, which both cache keys are made of, or nil where
/// the cache is off. This reads the standard library's string layout,
/// which is ABI on 64-bit platforms. `_checkStringKeys` verifies it when
/// the store is made and turns the cache off if it does not hold;
/// `KeyNameCacheTests` checks it on every test run.
@inlinable @inline(__always)
func _stringWords(_ name: String) -> (UInt64, UInt64)? {
    #if _pointerBitWidth(_64)
        guard ctxs_swift_string_keys_get() != 0 else { return nil }
        return unsafeBitCast(name, to: (UInt64, UInt64).self)
    #else
        return nil
    #endif
}

/// Bits of a 64-bit String's second word (the standard library's
/// `_StringObject` discriminator).
@usableFromInline let _isImmortalBit: UInt64 = 1 << 63
@usableFromInline let _isSmallBit: UInt64 = 1 << 61

/// Whether `_cacheKey`'s and `_Stored`'s reading of the string layout
/// holds here: small strings carry their bytes and their discriminator;
/// literals carry the immortal bit, in words that `_Stored.tag(words:)`
/// takes and gives back bit for bit, ASCII or not; and a string built at
/// run time has none of these (its words are never tagged: they point to
/// storage it must keep alive).
func _checkStringKeys() -> Bool {
    #if _pointerBitWidth(_64)
        guard MemoryLayout<String>.size == 16 else { return false }
        func words(_ s: String) -> (UInt64, UInt64) { unsafeBitCast(s, to: (UInt64, UInt64).self) }
        let small = words("ab")
        let smallUnicode = words("\u{E9}")
        let literal = words("a literal name that is longer than fifteen bytes")
        let unicodeLiteral = words("a literal name, caf\u{E9}, that is longer than fifteen bytes")
        func isTaggedLiteral(_ words: (UInt64, UInt64)) -> Bool {
            guard let tag = _Stored.tag(words: words), tag & _Stored.tagMask == _Stored.literalTag else { return false }
            return _Stored.literalWords(tag) == words
        }
        var built = String(repeating: "x", count: 40)
        built.append("y")
        let runtime = words(built)
        // A small string's second word is its discriminator and count in
        // the top byte (0xE0 | count when ASCII, 0xA0 | count when not)
        // and its bytes 8-14 below: `_Stored` tags strings of up to 7
        // bytes by that.
        return small.0 == 0x6261 && small.1 == 0xE2 << 56
            && smallUnicode.0 == 0xA9C3 && smallUnicode.1 == 0xA2 << 56
            && literal.1 & _isImmortalBit != 0 && literal.1 & _isSmallBit == 0
            && runtime.1 & (_isImmortalBit | _isSmallBit) == 0
            && isTaggedLiteral(literal) && isTaggedLiteral(unicodeLiteral) && _Stored.tag(words: runtime) == nil
    #else
        return false
    #endif
}
