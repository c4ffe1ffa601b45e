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
                    let found = _withKeyNameBytes(name) {
                        ctxs_intern_find(_Store.raw, $0.baseAddress, $0.count, &direct)
                    }
                    #expect(found == 1 && viaCache == direct, "\(name)")
                }
            }
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
