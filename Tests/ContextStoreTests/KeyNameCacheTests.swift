import CContextStore
import CContextStoreSPI
import Testing

@testable import ContextStore

// The name cache keys a small or literal String by its own two words
// (`_cacheKey`), which reads the standard library's string layout. These
// tests check that reading on every run, and that the cache never gives a
// name another name's id.

extension ContextStoreTests {
    @Suite("Key names: the cache")
    struct KeyNameCacheTests {
        @Test func theStringLayoutIsWhatTheCacheReads() {
            _ = _Store.raw  // makes the store, which runs the check
            #if _pointerBitWidth(_64)
                #expect(_checkStringKeys())
                #expect(ctxs_swift_string_keys_get() == 1)
            #endif
        }

        @Test func onlyStringsWhoseWordsFixTheirBytesHaveKeys() {
            _ = _Store.raw
            #if _pointerBitWidth(_64)
                #expect(_cacheKey("key-0") != nil, "small")
                #expect(_cacheKey("caf\u{E9}") != nil, "small, not ASCII")
                #expect(_cacheKey("request.attributes.user.locale.0") != nil, "a literal")
                var built = String(repeating: "r", count: 31)
                built.append("0")
                #expect(_cacheKey(built) == nil, "a heap string's address can be reused")
                #expect(_cacheKey("key-0")! == _cacheKey(String("key-") + "0")!, "equal small strings, equal keys")
            #endif
        }

        /// Every lookup, cached or not, agrees with the C table read by the
        /// name's NFC bytes.
        @Test func cachedIDsAreTheNamesOwn() throws {
            let names = (0..<600).map { "cache-\($0)" } + (0..<50).map { "clé-\($0)" }
            for name in names { _ = try #require(_Store.intern(name)) }
            for _ in 0..<3 {
                for name in names {
                    let viaCache = try #require(_Store.lookup(name))
                    var direct: UInt64 = 0
                    let found = _withKeyNameBytes(name) { bytes, _ in
                        ctxs_intern_find(_Store.raw, bytes.baseAddress, bytes.count, &direct)
                    }
                    #expect(found == 1 && viaCache == direct, "\(name)")
                }
            }
        }

        /// A heap string caches its id under its own words, checked against
        /// its bytes: read twice, its entry is filled, and a string with the
        /// same words but other bytes gets its own id, or none if its name
        /// was never interned. The same words come from editing one
        /// uniquely referenced `var` in place (a freed string's address
        /// reused by the allocator is the other way, but one that a
        /// sanitizer's allocator, holding freed memory back, never takes).
        @Test func aHeapStringsWordsWithOtherBytesFindTheirOwnID() throws {
            _ = _Store.raw
            #if _pointerBitWidth(_64)
                let suffixes = (0..<400).map { i -> String in
                    let digits = String(i)
                    return String(repeating: "0", count: 6 - digits.count) + digits
                }
                var interned: [UInt64?] = []
                for (i, suffix) in suffixes.enumerated() {
                    if i % 3 == 2 {
                        interned.append(nil)  // never interned
                    } else {
                        let id = try #require(_Store.intern("reused.heap.name." + suffix))
                        interned.append(id)
                    }
                }
                var name = String(decoding: Array("reused.heap.name.xxxxxx".utf8), as: UTF8.self)
                var previous: (UInt64, UInt64)?
                var sameWords = 0
                var wrong: [String] = []
                for (i, suffix) in suffixes.enumerated() {
                    name.removeLast(6)
                    name.append(suffix)
                    let key = try #require(_checkedCacheKey(name), "a heap string")
                    if let previous, previous == key { sameWords += 1 }
                    previous = key
                    if _Store.lookup(name) != interned[i] || _Store.lookup(name) != interned[i] {
                        wrong.append(name)
                    }
                    if let id = interned[i], !isCached(name, as: id) { wrong.append("\(name): not cached") }
                }
                #expect(wrong.isEmpty, "\(wrong.count) wrong, first \(wrong.prefix(3))")
                // Else the loop never met the case it is about.
                #expect(sameWords > 100, "the same words \(sameWords) times")
            #endif
        }

        /// Whether `name`'s checked cache entry holds `id` after a lookup. The
        /// cache is lossy (a put gives up while another thread writes the
        /// entry, and other suites' names may take it), so three tries.
        func isCached(_ name: String, as id: UInt64) -> Bool {
            guard let key = _checkedCacheKey(name) else { return false }
            for _ in 0..<3 {
                _ = _Store.lookup(name)
                var cached: UInt64 = 0
                let hit = name.utf8.withContiguousStorageIfAvailable { bytes in
                    ctxs_intern_cache_find_checked(_Store.raw, key.0, key.1, bytes.baseAddress, bytes.count, &cached)
                }
                if hit == 1 && cached == id { return true }
            }
            return false
        }

        /// The bytes a name is interned by are the string's own exactly when
        /// it is in NFC: only then may a heap string cache its id.
        @Test func theBytesAreTheStringsOwnOnlyWhenItIsInNFC() {
            #expect(_withKeyNameBytes("request_id") { $1 }, "ASCII")
            #expect(_withKeyNameBytes("caf\u{E9}") { $1 }, "Latin-1")
            #expect(_withKeyNameBytes("\u{30AD}\u{30FC}") { $1 }, "in NFC, scalars above U+0300")
            #expect(!_withKeyNameBytes("cafe\u{301}") { $1 }, "decomposed")
            #expect(!_withKeyNameBytes("\u{212B}") { $1 }, "ANGSTROM SIGN, which NFC maps to U+00C5")
        }

        /// A heap string that is not in NFC finds its name without the
        /// cache, and fills no entry: its bytes are not its name's, so no
        /// checked lookup of it could hit one, and the entry would only push
        /// another out.
        @Test func aHeapStringNotInNFCFindsItsNameWithoutTheCache() throws {
            _ = _Store.raw
            let composed = String(decoding: Array("heap.caf\u{E9}.name.not.small".utf8), as: UTF8.self)
            let decomposed = String(decoding: Array("heap.cafe\u{301}.name.not.small".utf8), as: UTF8.self)
            let id = try #require(_Store.intern(composed))
            for _ in 0..<3 { #expect(_Store.lookup(decomposed) == id) }
            #if _pointerBitWidth(_64)
                let key = try #require(_checkedCacheKey(decomposed))
                var cached: UInt64 = 0
                let nfc = Array(composed.utf8)
                let hit = nfc.withUnsafeBytes {
                    ctxs_intern_cache_find_checked(_Store.raw, key.0, key.1, $0.baseAddress, $0.count, &cached)
                }
                #expect(hit == 0, "no entry under the decomposed string's words")
                #expect(isCached(composed, as: id), "the composed one has its own")
            #endif
        }

        /// Threads looking names up at once, through entries other threads
        /// fill: a torn entry would pair one name with another's id.
        @Test func concurrentLookupsNeverMixNames() async throws {
            let names = (0..<2048).map { "race-\($0)" }
            var expected: [UInt64] = []
            for name in names { expected.append(try #require(_Store.intern(name))) }
            let ids = expected
            let mismatches = await withTaskGroup(of: Int.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var bad = 0
                        for round in 0..<20 {
                            for i in stride(from: (worker + round) % 7, to: names.count, by: 3) {
                                if _Store.lookup(names[i]) != ids[i] { bad += 1 }
                            }
                        }
                        return bad
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(mismatches == 0)
        }
    }
}
