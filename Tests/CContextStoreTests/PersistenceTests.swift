import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Every map is immutable: assoc and without return new maps and leave every
/// older root reading exactly as before.
///
/// Owns: persistence seen from Swift. `Tests/C/test_trie.c` (persistence)
/// checks the same under the sanitizers.
@Suite("Persistence")
struct PersistenceTests {
    /// Keys that share low bits with each other, so versions share deep paths.
    static func keyPool(_ rng: inout SplitMix64) -> [UInt64] {
        var keys: [UInt64] = []
        for _ in 0..<16 {
            let k = rng.next()
            keys.append(k)
            keys.append(k ^ (1 << 60))  // same low 60 bits: differs at the last level
            keys.append(k ^ (1 << 27))  // same low 25 bits: differs at level 5
        }
        for small in UInt64(0)..<16 { keys.append(small) }
        return keys
    }

    @Test("assoc and without keep every older root", arguments: Backend.allCases)
    func olderRootsSurvive(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var rng = SplitMix64(seed: 0x5EED_0001)
            let keys = Self.keyPool(&rng)
            let values = s.values(12)
            var versions: [(map: OpaquePointer, model: [UInt64: UnsafeMutableRawPointer])] = [(s.emptyMap(), [:])]
            defer { for v in versions { ctxs_map_release(v.map) } }

            for _ in 0..<800 {
                // Usually continue from the newest version, sometimes branch off an older one.
                let base = rng.below(10) == 0 ? versions[rng.below(versions.count)] : versions[versions.count - 1]
                var model = base.model
                let next: OpaquePointer
                if rng.below(10) < 6 {
                    let key = keys[rng.below(keys.count)]
                    let value = values[rng.below(values.count)]
                    next = try s.assoc(base.map, key, value)
                    model[key] = value
                } else {
                    let key =
                        !model.isEmpty && rng.below(5) != 0
                        ? Array(model.keys)[rng.below(model.count)] : keys[rng.below(keys.count)]
                    next = try s.without(base.map, key)
                    model[key] = nil
                }
                versions.append((next, model))
                // The base is untouched right away, not only at the end.
                #expect(ctxs_map_count(base.map) == base.model.count)
            }

            for (index, version) in versions.enumerated() {
                #expect(mapMatches(version.map, version.model), "version \(index)")
                #expect(ctxs_map_check(version.map) == 1, "version \(index)")
                for key in keys where version.model[key] == nil {
                    #expect(ctxs_map_find(version.map, key, nil) == 0, "version \(index) key \(key)")
                }
            }
        }
    }

    @Test("replacing a value leaves the older root with the old value", arguments: Backend.allCases)
    func replaceKeepsOldValue(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (a, b) = (s.value(), s.value())
            let m1 = try s.map([(7, a), (39, s.value())])
            let m2 = try s.assoc(m1, 7, b)
            let m3 = try s.without(m2, 7)
            #expect(find(m1, 7) == a)
            #expect(find(m2, 7) == b)
            #expect(find(m3, 7) == nil)
            #expect(ctxs_map_count(m1) == 2)
            #expect(ctxs_map_count(m2) == 2)
            #expect(ctxs_map_count(m3) == 1)
            #expect(find(m3, 39) == find(m1, 39))
            for m in [m1, m2, m3] { #expect(ctxs_map_check(m) == 1) }
            ctxs_map_release(m2)
            #expect(find(m1, 7) == a)
            #expect(find(m3, 7) == nil)
            ctxs_map_release(m1)
            #expect(find(m3, 39) != nil)
            ctxs_map_release(m3)
        }
    }

    @Test("fork is O(1): the same map, retained, with no allocation", arguments: Backend.allCases)
    func forkIsConstant(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let m = try s.map((UInt64(1)...40).map { ($0 &* 0x9E37_79B9, s.value()) })
            let before = s.live
            let allocations = s.allocationCount
            let f = ctxs_map_fork(m)
            #expect(f == m)
            #expect(s.allocationCount == allocations)
            #expect(s.live == before)
            ctxs_map_release(m)
            // The fork's reference alone keeps the map and its values.
            #expect(s.live == before)
            #expect(ctxs_map_count(f) == 40)
            #expect(ctxs_map_check(f) == 1)
            ctxs_map_release(f)
        }
    }

    @Test("without an absent key returns the same map, retained", arguments: Backend.allCases)
    func withoutAbsentKey(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let m = try s.map([(1, s.value()), (2, s.value())])
            let before = s.live
            let out = try s.without(m, 3)
            #expect(out == m)
            #expect(s.live == before)
            ctxs_map_release(out)
            #expect(ctxs_map_count(m) == 2)
            ctxs_map_release(m)

            let empty = s.emptyMap()
            let stillEmpty = try s.without(empty, 1)
            #expect(ctxs_map_count(stillEmpty) == 0)
            ctxs_map_release(stillEmpty)
            ctxs_map_release(empty)
        }
    }

    @Test("the empty map", arguments: Backend.allCases)
    func emptyMap(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let before = s.live
            let e1 = s.emptyMap()
            let e2 = s.emptyMap()
            #expect(s.live == before, "the empty map is preallocated and not counted as a root")
            #expect(ctxs_map_store(e1) == s.store)
            #expect(ctxs_map_count(e1) == 0)
            #expect(ctxs_map_depth(e1) == -1)
            #expect(ctxs_map_find(e1, 0, nil) == 0)
            #expect(ctxs_map_find(e1, .max, nil) == 0)
            #expect(entries(of: e1).isEmpty)
            #expect(ctxs_map_check(e1) == 1)
            #expect(ctxs_map_same_shape(e1, e2) == 1)
            ctxs_map_release(e1)
            ctxs_map_release(e2)
            ctxs_map_release(nil)
        }
    }

    @Test("assoc of a NULL value is EINVAL and changes nothing", arguments: Backend.allCases)
    func assocNullValue(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let m = try s.map([(5, s.value())])
            let before = s.live
            let counts = s.tracker.counts
            var out: OpaquePointer? = nil
            #expect(ctxs_map_assoc(m, 6, nil, &out) == statusEINVAL)
            #expect(ctxs_map_assoc(m, 5, nil, &out) == statusEINVAL)
            #expect(out == nil)
            #expect(s.live == before)
            #expect(s.tracker.counts == counts)
            #expect(ctxs_map_count(m) == 1)
            ctxs_map_release(m)
        }
    }

    @Test("ctxs_map_store and the status strings")
    func mapStoreAndStatusStrings() throws {
        try withStore { s in
            let m = try s.map([(1, s.value())])
            #expect(ctxs_map_store(m) == s.store)
            ctxs_map_release(m)
        }
        let codes = [statusOK, statusENOMEM, statusEINVAL, statusEBUSY]
        let names = codes.map { String(cString: ctxs_status_string($0)) }
        #expect(names.allSatisfy { !$0.isEmpty })
        #expect(Set(names).count == codes.count, "every status has its own string")
    }
}
