import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Key interning: names (any bytes) to stable 64-bit ids that place names
/// interned together apart in the trie.
///
/// Owns: what the Swift layer relies on (ids from Swift byte buffers, ids
/// usable as trie hashes). The C harness (`Tests/C/test_interning.c`, and
/// `test_threads.c` for contention) owns growth and races under TSan.
@Suite("Intern")
struct InternTests {
    static func intern(_ s: StoreFixture, _ name: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> UInt64
    {
        var id: UInt64 = 0
        let rc = name.withUnsafeBytes { ctxs_intern(s.store, $0.baseAddress, $0.count, &id) }
        try #require(rc == statusOK, "ctxs_intern returned \(rc)", sourceLocation: sourceLocation)
        return id
    }

    static func intern(_ s: StoreFixture, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> UInt64
    {
        try intern(s, Array(name.utf8), sourceLocation: sourceLocation)
    }

    static func lookup(_ s: StoreFixture, _ name: [UInt8]) -> UInt64? {
        var id: UInt64 = 0
        let found = name.withUnsafeBytes { ctxs_intern_find(s.store, $0.baseAddress, $0.count, &id) }
        return found == 1 ? id : nil
    }

    static func name(_ s: StoreFixture, _ id: UInt64) -> [UInt8]? {
        var bytes: UnsafeRawPointer? = nil
        var length = 0
        guard ctxs_intern_name(s.store, id, &bytes, &length) == 1 else { return nil }
        if length == 0 { return [] }
        guard let bytes else { return nil }
        return Array(UnsafeRawBufferPointer(start: bytes, count: length))
    }

    @Test("the same name gives the same id; distinct names give distinct ids")
    func sameAndDistinct() throws {
        try withStore { s in
            let a = try Self.intern(s, "trace.id")
            #expect(try Self.intern(s, "trace.id") == a)
            #expect(try Self.intern(s, Array("trace.id".utf8)) == a)
            let b = try Self.intern(s, "trace.ID")
            #expect(a != b)

            var ids: [String: UInt64] = [:]
            for i in 0..<5_000 { ids["key-\(i)"] = try Self.intern(s, "key-\(i)") }
            #expect(Set(ids.values).count == ids.count)
            #expect(!ids.values.contains(a) && !ids.values.contains(b))
            for (name, id) in ids.sorted(by: { $0.key < $1.key }).prefix(500) {
                #expect(try Self.intern(s, name) == id)
            }
            #expect(s.stats.interned_keys == ids.count + 2)
        }
    }

    @Test("names are bytes: NUL inside, prefixes and the empty name are all distinct")
    func bytesNotStrings() throws {
        try withStore { s in
            let names: [[UInt8]] = [
                [], [0], [0, 0], [0x61], [0x61, 0], [0x61, 0, 0x62], [0x61, 0, 0x63], [0, 0x61], [0xFF],
            ]
            var ids: [UInt64] = []
            for name in names { ids.append(try Self.intern(s, name)) }
            #expect(Set(ids).count == names.count)
            for (name, id) in zip(names, ids) {
                #expect(Self.name(s, id) == name, "round trip of \(name)")
                #expect(Self.lookup(s, name) == id)
            }
        }
    }

    @Test("the empty name: NULL or not, one id")
    func emptyName() throws {
        try withStore { s in
            var fromNull: UInt64 = 0
            #expect(ctxs_intern(s.store, nil, 0, &fromNull) == statusOK)
            let byte: UInt8 = 0x7A
            var fromPointer: UInt64 = 0
            #expect(withUnsafeBytes(of: byte) { ctxs_intern(s.store, $0.baseAddress, 0, &fromPointer) } == statusOK)
            #expect(fromNull == fromPointer)
            var found: UInt64 = 0
            #expect(ctxs_intern_find(s.store, nil, 0, &found) == 1)
            #expect(found == fromNull)
            #expect(Self.name(s, fromNull) == [])
            #expect(s.stats.interned_keys == 1)
        }
    }

    @Test("a 1 MiB name round-trips and differs from a name one byte off", arguments: Backend.allCases)
    func hugeName(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var rng = SplitMix64(seed: 0x5EED_0008)
            let big = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var other = big
            other[other.count - 1] ^= 1
            let a = try Self.intern(s, big)
            let b = try Self.intern(s, other)
            #expect(a != b)
            #expect(try Self.intern(s, big) == a)
            #expect(Self.name(s, a) == big)
            #expect(Self.name(s, b) == other)
            #expect(Self.lookup(s, Array(big.dropLast())) == nil)
        }
    }

    @Test("ctxs_intern_find does not intern")
    func findDoesNotIntern() throws {
        try withStore { s in
            let name = Array("not.yet".utf8)
            var id: UInt64 = 0xAAAA
            #expect(name.withUnsafeBytes { ctxs_intern_find(s.store, $0.baseAddress, $0.count, &id) } == 0)
            #expect(id == 0xAAAA, "a miss leaves *id alone")
            #expect(Self.lookup(s, name) == nil, "still not there after a lookup")
            #expect(s.stats.interned_keys == 0)
            let interned = try Self.intern(s, name)
            #expect(Self.lookup(s, name) == interned)
            #expect(s.stats.interned_keys == 1)
        }
    }

    @Test("ctxs_intern_name round-trips and rejects ids this store never handed out")
    func nameRoundTrip() throws {
        try withStore { s in
            var ids: [UInt64: [UInt8]] = [:]
            for i in 0..<300 {
                let name = Array("ctx-\(i)-\(String(repeating: "x", count: i % 17))".utf8)
                ids[try Self.intern(s, name)] = name
            }
            for (id, name) in ids { #expect(Self.name(s, id) == name) }
            // Ids a bit away from handed-out ones, when not handed out
            // themselves, are unknown. (Ids one apart in the low bits are
            // mostly other names': an id keeps its counter's low 5 bits.)
            var probed = 0
            for id in ids.keys {
                for candidate in [id ^ (1 << 40), id ^ (1 << 63), ~id] where ids[candidate] == nil {
                    #expect(Self.name(s, candidate) == nil, "id \(candidate)")
                    probed += 1
                }
            }
            #expect(probed >= 800)
            // The names are borrowed from the store and stay valid as it grows.
            var bytes: UnsafeRawPointer? = nil
            var length = 0
            let (firstID, firstName) = try #require(ids.first)
            #expect(ctxs_intern_name(s.store, firstID, &bytes, &length) == 1)
            for i in 0..<2_000 { _ = try Self.intern(s, "later-\(i)") }
            #expect(length == firstName.count)
            #expect(Array(UnsafeRawBufferPointer(start: bytes, count: length)) == firstName)
        }
    }

    @Test("names interned together sit apart in the trie's first level, and ids work as map keys")
    func idsAsKeys() throws {
        try withStore { s in
            var ids: [UInt64] = []
            for i in 0..<1_024 { ids.append(try Self.intern(s, "k\(i)")) }
            // Any 32 names interned one after another take the 32 root
            // fragments, one each (hamt.c, "Hashing").
            for start in stride(from: 0, through: ids.count - 32, by: 1) {
                #expect(Set(ids[start..<start + 32].map { $0 & 31 }).count == 32)
            }
            // So a map of 8 of them is one node.
            let eight = try s.map(ids[100..<108].map { ($0, s.value()) })
            #expect(ctxs_map_node_count(eight) == 1)
            ctxs_map_release(eight)
            let value = s.value()
            let m = try s.map(ids.map { ($0, value) })
            #expect(ctxs_map_count(m) == ids.count)
            #expect(ids.allSatisfy { find(m, $0) == value })
            #expect(ctxs_map_check(m) == 1)
            ctxs_map_release(m)
        }
    }
}
