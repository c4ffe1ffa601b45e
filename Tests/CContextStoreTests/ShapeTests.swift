import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Exact trie shapes. A key is its own hash: level L of the trie indexes the
/// key's bits 5L ..< 5L+5, from the least significant end (level 12 takes the
/// last four bits, 60...63). So chosen keys pin the tree:
///
///     two keys that agree on their low 5L bits and differ in level L's bits
///     sit in one node at depth L, below a chain of L single-child nodes:
///     depth L, L + 1 nodes.
///
/// Deletion is canonical (a child left with one entry is inlined into its
/// parent), so equal contents give equal trees whatever the history.
///
/// Owns: shapes as the debug build's introspection reports them to Swift
/// (`ctxs_map_node_count` and the rest exist only with
/// CTXS_CHECK_INVARIANTS, which debug builds define). The C harness
/// (`Tests/C/test_trie.c`, shape) pins the same shapes under the sanitizers.
@Suite("Shape")
struct ShapeTests {
    /// The lowest `bits` bits set.
    static func lowMask(_ bits: Int) -> UInt64 { bits >= 64 ? .max : (1 << UInt64(bits)) - 1 }

    /// A key that agrees with `key` on its low 5L bits and differs at level L.
    static func divergingAt(_ level: Int, from key: UInt64) -> UInt64 {
        key ^ (1 << UInt64(5 * level))
    }

    @Test("pinned: {1, 2} share the root, {1, 33} split at level 1", arguments: Backend.allCases)
    func smallPinnedShapes(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let single = try s.map([(1, s.value())])
            #expect(ctxs_map_node_count(single) == 1)
            #expect(ctxs_map_depth(single) == 0)

            // 1 and 2 differ in bits 0-4: both live in the root.
            let sameLevel = try s.map([(1, s.value()), (2, s.value())])
            #expect(ctxs_map_node_count(sameLevel) == 1)
            #expect(ctxs_map_depth(sameLevel) == 0)

            // 1 = 0b00001, 33 = 0b100001: equal bits 0-4, so they split at level 1.
            let split = try s.map([(1, s.value()), (33, s.value())])
            #expect(ctxs_map_node_count(split) == 2)
            #expect(ctxs_map_depth(split) == 1)

            // 0, 32, 64 agree on bits 0-4 and differ in bits 5-9: one child of three.
            let three = try s.map([(0, s.value()), (32, s.value()), (64, s.value())])
            #expect(ctxs_map_node_count(three) == 2)
            #expect(ctxs_map_depth(three) == 1)

            for m in [single, sameLevel, split, three] {
                #expect(ctxs_map_check(m) == 1)
                ctxs_map_release(m)
            }
        }
    }

    @Test("pinned: a pair diverging at level L has depth L and L + 1 nodes", arguments: Backend.allCases)
    func pairAtEveryLevel(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var rng = SplitMix64(seed: 0x5EED_0002)
            for level in 0...12 {
                let a = rng.next()
                let b = Self.divergingAt(level, from: a)
                #expect(a & Self.lowMask(5 * level) == b & Self.lowMask(5 * level))
                let m = try s.map([(a, s.value()), (b, s.value())])
                #expect(ctxs_map_depth(m) == Int32(level), "level \(level)")
                #expect(ctxs_map_node_count(m) == level + 1, "level \(level)")
                #expect(ctxs_map_check(m) == 1, "level \(level)")

                // Removing either key collapses the chain into the root.
                for (gone, kept) in [(a, b), (b, a)] {
                    let one = try s.without(m, gone)
                    #expect(ctxs_map_node_count(one) == 1, "level \(level)")
                    #expect(ctxs_map_depth(one) == 0, "level \(level)")
                    #expect(ctxs_map_check(one) == 1, "level \(level)")
                    let direct = try s.map([(kept, try #require(find(m, kept)))])
                    #expect(ctxs_map_same_shape(one, direct) == 1, "level \(level)")
                    ctxs_map_release(direct)
                    ctxs_map_release(one)
                }
                ctxs_map_release(m)
            }
        }
    }

    @Test("pinned: keys sharing the low 60 bits give depth 12 and 13 nodes", arguments: Backend.allCases)
    func deepestPair(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let nodesBefore = s.stats.live_nodes
            let a: UInt64 = 0x0123_4567_89AB_CDEF
            let b = a ^ (0xF << 60)  // bits 60-63 differ, the low 60 agree
            let c = a ^ 1  // differs at level 0

            let pair = try s.map([(a, s.value()), (b, s.value())])
            #expect(ctxs_map_depth(pair) == 12)
            #expect(ctxs_map_node_count(pair) == 13)
            #expect(s.stats.live_nodes == nodesBefore + 13)

            // A root entry beside the chain changes neither depth nor node count.
            let triple = try s.assoc(pair, c, s.value())
            #expect(ctxs_map_depth(triple) == 12)
            #expect(ctxs_map_node_count(triple) == 13)

            // Removing b inlines a all the way up: one node, two entries.
            let collapsed = try s.without(triple, b)
            #expect(ctxs_map_node_count(collapsed) == 1)
            #expect(ctxs_map_depth(collapsed) == 0)
            #expect(ctxs_map_count(collapsed) == 2)
            let direct = try s.map([(c, try #require(find(triple, c))), (a, try #require(find(triple, a)))])
            #expect(ctxs_map_same_shape(collapsed, direct) == 1)

            for m in [pair, triple, collapsed, direct] {
                #expect(ctxs_map_check(m) == 1)
                ctxs_map_release(m)
            }
            #expect(s.stats.live_nodes == nodesBefore)
        }
    }

    @Test("pinned: a node holding one entry and a child is not collapsed", arguments: Backend.allCases)
    func partialCollapse(backend: Backend) throws {
        try withStore(backend: backend) { s in
            // 1 and 1025 agree on bits 0-9 and split at level 2; 33 splits from both at level 1.
            let m = try s.map([(1, s.value()), (1025, s.value()), (33, s.value())])
            #expect(ctxs_map_node_count(m) == 3)
            #expect(ctxs_map_depth(m) == 2)

            // Without 33 the level-1 node keeps its only child: the pair must stay at level 2.
            let no33 = try s.without(m, 33)
            #expect(ctxs_map_node_count(no33) == 3)
            #expect(ctxs_map_depth(no33) == 2)

            // Without 1025 the level-2 node has one entry left and is inlined.
            let no1025 = try s.without(m, 1025)
            #expect(ctxs_map_node_count(no1025) == 2)
            #expect(ctxs_map_depth(no1025) == 1)

            // Then without 33 the level-1 node has one entry left: it goes too.
            let only1 = try s.without(no1025, 33)
            #expect(ctxs_map_node_count(only1) == 1)
            #expect(ctxs_map_depth(only1) == 0)

            // A child of three losing one entry stays a child of two.
            let three = try s.map([(1, s.value()), (33, s.value()), (65, s.value())])
            let two = try s.without(three, 65)
            #expect(ctxs_map_node_count(two) == 2)
            #expect(ctxs_map_depth(two) == 1)

            for map in [m, no33, no1025, only1, three, two] {
                #expect(ctxs_map_check(map) == 1)
                ctxs_map_release(map)
            }
        }
    }

    /// Keys from every corner of the trie: random ones and colliders that
    /// share 5, 25, 50 or 60 low bits with another key.
    static func mixedKeys(_ rng: inout SplitMix64, count: Int) -> [UInt64] {
        var keys: Set<UInt64> = []
        while keys.count < count {
            let k = rng.next()
            keys.insert(k)
            switch rng.below(4) {
            case 0: keys.insert(divergingAt(12, from: k))
            case 1: keys.insert(divergingAt(10, from: k))
            case 2: keys.insert(divergingAt(5, from: k))
            default: keys.insert(divergingAt(1, from: k))
            }
        }
        return Array(keys).sorted()
    }

    @Test("removing every key gives the empty map and frees every node", arguments: Backend.allCases)
    func removeEverything(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let nodesBefore = s.stats.live_nodes
            var rng = SplitMix64(seed: 0x5EED_0003)
            let keys = Self.mixedKeys(&rng, count: 600)
            let values = s.values(8)
            var m = try s.map(keys.map { ($0, values[rng.below(values.count)]) })
            #expect(ctxs_map_count(m) == keys.count)
            #expect(ctxs_map_check(m) == 1)

            var remaining = Set(keys)
            for key in keys.shuffled(using: &rng) {
                let next = try s.without(m, key)
                ctxs_map_release(m)
                m = next
                remaining.remove(key)
                #expect(ctxs_map_count(m) == remaining.count)
                #expect(ctxs_map_find(m, key, nil) == 0)
                #expect(ctxs_map_check(m) == 1)
            }

            let empty = s.emptyMap()
            #expect(ctxs_map_count(m) == 0)
            #expect(ctxs_map_depth(m) == -1)
            #expect(ctxs_map_node_count(m) == ctxs_map_node_count(empty))
            #expect(ctxs_map_same_shape(m, empty) == 1)
            #expect(entries(of: m).isEmpty)
            #expect(s.stats.live_nodes == nodesBefore)
            #expect(s.stats.live_values == 0)
            ctxs_map_release(empty)
            ctxs_map_release(m)
        }
    }

    @Test("equal contents give the same shape whatever the history", arguments: Backend.allCases)
    func sameShapeForEqualContents(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var rng = SplitMix64(seed: 0x5EED_0004)
            let keys = Self.mixedKeys(&rng, count: 300)
            let values = s.values(6)
            let target = Dictionary(uniqueKeysWithValues: keys.map { ($0, values[rng.below(values.count)]) })

            // Ascending and shuffled insertion.
            let ascending = try s.map(keys.map { ($0, target[$0]!) })
            let shuffled = try s.map(keys.shuffled(using: &rng).map { ($0, target[$0]!) })

            // Extra keys inserted and removed again, values replaced and put back.
            let extras = Self.mixedKeys(&rng, count: 200).filter { target[$0] == nil }
            var noisy = s.emptyMap()
            var plan: [(UInt64, UnsafeMutableRawPointer?)] = []
            for k in keys { plan.append((k, values[rng.below(values.count)])) }
            for k in extras { plan.append((k, values[0])) }
            plan.shuffle(using: &rng)
            for k in extras.shuffled(using: &rng) { plan.append((k, nil)) }
            for k in keys.shuffled(using: &rng) { plan.append((k, target[k]!)) }
            for (k, v) in plan {
                let next: OpaquePointer
                if let v {
                    next = try s.assoc(noisy, k, v)
                } else {
                    next = try s.without(noisy, k)
                }
                ctxs_map_release(noisy)
                noisy = next
            }

            for m in [ascending, shuffled, noisy] {
                #expect(mapMatches(m, target))
                #expect(ctxs_map_check(m) == 1)
            }
            #expect(ctxs_map_same_shape(ascending, shuffled) == 1)
            #expect(ctxs_map_same_shape(ascending, noisy) == 1)
            #expect(ctxs_map_same_shape(noisy, shuffled) == 1)
            #expect(ctxs_map_node_count(ascending) == ctxs_map_node_count(noisy))
            #expect(ctxs_map_depth(ascending) == ctxs_map_depth(noisy))

            // Different contents are told apart: one value differs, or one key is missing.
            let someKey = keys[keys.count / 2]
            let otherValue = values.first { $0 != target[someKey] }!
            let changed = try s.assoc(ascending, someKey, otherValue)
            let missing = try s.without(ascending, someKey)
            #expect(ctxs_map_same_shape(ascending, changed) == 0)
            #expect(ctxs_map_same_shape(ascending, missing) == 0)
            #expect(ctxs_map_same_shape(missing, ascending) == 0)

            for m in [ascending, shuffled, noisy, changed, missing] { ctxs_map_release(m) }
        }
    }
}
