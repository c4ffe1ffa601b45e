import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Slots: mutable cells over a map, plain or chained over a live parent.
///
/// Owns: the slot API as the Swift layer calls it. The C harness
/// (`Tests/C/test_slots.c`, `test_chains.c`) owns the model checks of
/// slots and chains under the sanitizers.
@Suite("Slot")
struct SlotTests {
    // MARK: Plain slots

    @Test("plain slot: assoc, find, without, clear", arguments: Backend.allCases)
    func plainBasics(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let slot = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_depth(slot) == 0)
            #expect(ctxs_slot_parent(slot) == nil)
            #expect(s.stats.live_slots == 1)
            #expect(ctxs_slot_find(slot, 1, nil) == 0)

            let (a, b, c) = (s.value(), s.value(), s.value())
            #expect(ctxs_slot_assoc(slot, 1, a) == statusOK)
            #expect(ctxs_slot_assoc(slot, 33, b) == statusOK)
            #expect(s.slotFind(slot, 1) == a)
            #expect(s.slotFind(slot, 33) == b)
            #expect(ctxs_slot_assoc(slot, 1, c) == statusOK)
            #expect(s.slotFind(slot, 1) == c)

            #expect(ctxs_slot_assoc(slot, 2, nil) == statusEINVAL)
            #expect(ctxs_slot_find(slot, 2, nil) == 0)

            #expect(ctxs_slot_without(slot, 1) == statusOK)
            #expect(ctxs_slot_find(slot, 1, nil) == 0)
            #expect(ctxs_slot_without(slot, 1) == statusOK, "removing an absent key is fine")
            #expect(s.slotFind(slot, 33) == b)

            #expect(ctxs_slot_clear(slot) == statusOK)
            #expect(ctxs_slot_find(slot, 33, nil) == 0)
            let snap = try s.snapshot(slot)
            #expect(ctxs_map_count(snap) == 0)
            ctxs_map_release(snap)
            ctxs_slot_release(slot)
        }
    }

    @Test("ctxs_slot_find returns a +1 value; a NULL out-pointer retains nothing", arguments: Backend.allCases)
    func findReturnsRetainedValue(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            let (a, b) = (s.value(), s.value())
            #expect(ctxs_slot_assoc(parent, 1, a) == statusOK)
            #expect(ctxs_slot_assoc(child, 2, b) == statusOK)

            for (slot, key, expected) in [(parent, UInt64(1), a), (child, 1, a), (child, 2, b)] {
                let before = s.tracker.counts(of: expected)
                var out: UnsafeMutableRawPointer? = nil
                #expect(ctxs_slot_find(slot, key, &out) == 1)
                #expect(out == expected)
                #expect(s.tracker.counts(of: expected).retains == before.retains + 1)
                #expect(s.tracker.counts(of: expected).releases == before.releases)
                s.releaseValue(try #require(out))

                #expect(ctxs_slot_find(slot, key, nil) == 1)
                #expect(s.tracker.counts(of: expected).retains == before.retains + 1)
            }
            let total = s.tracker.counts
            var out: UnsafeMutableRawPointer? = nil
            #expect(ctxs_slot_find(child, 3, &out) == 0)
            #expect(s.tracker.counts == total, "a miss retains nothing")

            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("a plain slot retains its initial map; snapshots are persistent", arguments: Backend.allCases)
    func plainInitialAndSnapshot(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (a, b) = (s.value(), s.value())
            var initial = try s.map([(1, a), (2, b)])
            let slot = try #require(ctxs_slot_create(s.store, initial, nil))
            let expectedInitial = entries(of: initial)
            ctxs_map_release(initial)  // the slot holds its own reference
            #expect(s.slotFind(slot, 1) == a)
            #expect(s.slotFind(slot, 2) == b)

            let snap1 = try s.snapshot(slot)
            #expect(mapMatches(snap1, expectedInitial))
            #expect(ctxs_slot_assoc(slot, 3, s.value()) == statusOK)
            #expect(ctxs_slot_without(slot, 1) == statusOK)
            #expect(mapMatches(snap1, expectedInitial), "a snapshot never changes")
            let snap2 = try s.snapshot(slot)
            #expect(ctxs_map_count(snap2) == 2)
            #expect(find(snap2, 1) == nil)
            #expect(ctxs_map_check(snap2) == 1)

            // Replace: the slot now reads the new map, which it retains.
            initial = try s.map([(10, a)])
            #expect(ctxs_slot_replace(slot, initial) == statusOK)
            let snap3 = try s.snapshot(slot)
            #expect(ctxs_map_same_shape(snap3, initial) == 1)
            ctxs_map_release(initial)
            #expect(s.slotFind(slot, 10) == a)
            #expect(ctxs_slot_find(slot, 2, nil) == 0)

            for m in [snap1, snap2, snap3] { ctxs_map_release(m) }
            ctxs_slot_release(slot)
        }
    }

    @Test("slot retain and release", arguments: Backend.allCases)
    func slotRetainRelease(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let slot = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(slot, 1, s.value()) == statusOK)
            let again = ctxs_slot_retain(slot)
            #expect(again == slot)
            ctxs_slot_release(slot)
            #expect(s.stats.live_slots == 1)
            #expect(ctxs_slot_find(again, 1, nil) == 1)
            ctxs_slot_release(again)
            #expect(s.stats.live_slots == 0)
            ctxs_slot_release(nil)
        }
    }

    // MARK: Chained slots

    @Test("chained: reads fall through to the live parent", arguments: Backend.allCases)
    func chainedReadsLiveParent(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (a, b, c, a2) = (s.value(), s.value(), s.value(), s.value())
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 1, a) == statusOK)
            #expect(ctxs_slot_assoc(parent, 2, b) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            #expect(ctxs_slot_depth(child) == 1)
            #expect(ctxs_slot_parent(child) == parent)
            #expect(s.slotFind(child, 1) == a)
            #expect(s.slotFind(child, 2) == b)

            // Writes to the parent after the child was created show through.
            #expect(ctxs_slot_assoc(parent, 3, c) == statusOK)
            #expect(s.slotFind(child, 3) == c)
            #expect(ctxs_slot_assoc(parent, 1, a2) == statusOK)
            #expect(s.slotFind(child, 1) == a2)
            #expect(ctxs_slot_without(parent, 2) == statusOK)
            #expect(ctxs_slot_find(child, 2, nil) == 0)

            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: child writes stay in the child and override the parent", arguments: Backend.allCases)
    func chainedWritesStayInChild(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (a, x, y, d) = (s.value(), s.value(), s.value(), s.value())
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 1, a) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))

            #expect(ctxs_slot_assoc(child, 4, d) == statusOK)
            #expect(s.slotFind(child, 4) == d)
            #expect(ctxs_slot_find(parent, 4, nil) == 0)

            #expect(ctxs_slot_assoc(child, 1, x) == statusOK)
            #expect(s.slotFind(child, 1) == x)
            #expect(s.slotFind(parent, 1) == a)
            #expect(ctxs_slot_assoc(parent, 1, y) == statusOK)
            #expect(s.slotFind(child, 1) == x, "the child's own entry wins over a later parent write")
            #expect(s.slotFind(parent, 1) == y)

            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: without hides an inherited key", arguments: Backend.allCases)
    func chainedWithoutHides(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (b, z) = (s.value(), s.value())
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 2, b) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))

            #expect(ctxs_slot_without(child, 2) == statusOK)
            #expect(ctxs_slot_find(child, 2, nil) == 0)
            #expect(s.slotFind(parent, 2) == b)
            let snap = try s.snapshot(child)
            #expect(ctxs_map_count(snap) == 0)
            ctxs_map_release(snap)

            #expect(ctxs_slot_assoc(child, 2, z) == statusOK)
            #expect(s.slotFind(child, 2) == z)

            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: a removal keeps hiding the key when the parent sets it again", arguments: Backend.allCases)
    func chainedWithoutHidesLaterParentWrites(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 2, s.value()) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            #expect(ctxs_slot_without(child, 2) == statusOK)
            #expect(ctxs_slot_assoc(parent, 2, s.value()) == statusOK)
            #expect(ctxs_slot_find(child, 2, nil) == 0)
            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: clear hides everything inherited; later child sets show", arguments: Backend.allCases)
    func chainedClear(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            for k: UInt64 in 1...3 { #expect(ctxs_slot_assoc(parent, k, s.value()) == statusOK) }
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            #expect(ctxs_slot_assoc(child, 4, s.value()) == statusOK)

            #expect(ctxs_slot_clear(child) == statusOK)
            for k: UInt64 in 1...4 { #expect(ctxs_slot_find(child, k, nil) == 0, "key \(k)") }
            for k: UInt64 in 1...3 { #expect(ctxs_slot_find(parent, k, nil) == 1, "parent keeps key \(k)") }

            let (e, f) = (s.value(), s.value())
            #expect(ctxs_slot_assoc(child, 5, e) == statusOK)
            #expect(ctxs_slot_assoc(child, 1, f) == statusOK)
            #expect(s.slotFind(child, 5) == e)
            #expect(s.slotFind(child, 1) == f)

            // Everything inherited stays hidden, including what the parent sets later.
            #expect(ctxs_slot_assoc(parent, 6, s.value()) == statusOK)
            #expect(ctxs_slot_find(child, 6, nil) == 0)
            #expect(ctxs_slot_find(child, 2, nil) == 0)

            let snap = try s.snapshot(child)
            #expect(entries(of: snap) == [5: e, 1: f])
            ctxs_map_release(snap)

            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: replace makes the layer the whole view", arguments: Backend.allCases)
    func chainedReplace(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 1, s.value()) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            let m = try s.map([(7, s.value()), (39, s.value())])
            #expect(ctxs_slot_replace(child, m) == statusOK)
            #expect(ctxs_slot_assoc(parent, 8, s.value()) == statusOK)

            let snap = try s.snapshot(child)
            #expect(ctxs_map_same_shape(snap, m) == 1)
            #expect(entries(of: snap) == entries(of: m))
            #expect(ctxs_slot_find(child, 1, nil) == 0)
            #expect(ctxs_slot_find(child, 8, nil) == 0)
            ctxs_map_release(snap)
            ctxs_map_release(m)
            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: snapshot equals the merged view", arguments: Backend.allCases)
    func chainedSnapshot(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let v = s.values(8)
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            for (k, i) in [(UInt64(1), 0), (2, 1), (3, 2), (4, 3)] {
                #expect(ctxs_slot_assoc(parent, k, v[i]) == statusOK)
            }
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            #expect(ctxs_slot_assoc(child, 5, v[4]) == statusOK)
            #expect(ctxs_slot_assoc(child, 1, v[5]) == statusOK)
            #expect(ctxs_slot_without(child, 2) == statusOK)
            #expect(ctxs_slot_assoc(parent, 6, v[6]) == statusOK)  // after the child: still inherited

            let expected: [UInt64: UnsafeMutableRawPointer] = [1: v[5], 3: v[2], 4: v[3], 5: v[4], 6: v[6]]
            let snap = try s.snapshot(child)
            #expect(mapMatches(snap, expected))
            #expect(ctxs_map_check(snap) == 1)
            let direct = try s.map(expected.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            #expect(ctxs_map_same_shape(snap, direct) == 1)
            for (k, value) in expected { #expect(s.slotFind(child, k) == value) }

            // The snapshot is a plain map: later writes do not reach it.
            #expect(ctxs_slot_assoc(parent, 3, v[7]) == statusOK)
            #expect(ctxs_slot_assoc(child, 9, v[7]) == statusOK)
            #expect(mapMatches(snap, expected))

            ctxs_map_release(direct)
            ctxs_map_release(snap)
            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    @Test("chained: a chain of three levels; a child keeps its parent alive", arguments: Backend.allCases)
    func chainOfThree(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let (a, b, c) = (s.value(), s.value(), s.value())
            let grand = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(grand, 1, a) == statusOK)
            let parent = try #require(ctxs_slot_create(s.store, nil, grand))
            #expect(ctxs_slot_assoc(parent, 2, b) == statusOK)
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            #expect(ctxs_slot_assoc(child, 3, c) == statusOK)
            #expect(ctxs_slot_depth(child) == 2)
            #expect(ctxs_slot_parent(child) == parent)
            #expect(ctxs_slot_parent(parent) == grand)

            // Drop our references to the ancestors: the child keeps them.
            ctxs_slot_release(parent)
            ctxs_slot_release(grand)
            #expect(s.stats.live_slots == 3)
            #expect(s.slotFind(child, 1) == a)
            #expect(s.slotFind(child, 2) == b)
            #expect(s.slotFind(child, 3) == c)
            // The grandparent is still live and writable through the pointer the chain keeps.
            #expect(ctxs_slot_assoc(grand, 4, a) == statusOK)
            #expect(s.slotFind(child, 4) == a)

            let snap = try s.snapshot(child)
            #expect(entries(of: snap) == [1: a, 2: b, 3: c, 4: a])
            ctxs_map_release(snap)
            ctxs_slot_release(child)
            #expect(s.stats.live_slots == 0)
        }
    }

    @Test("a chain 10,000 slots deep reads, snapshots and releases", arguments: Backend.allCases)
    func deepChain(backend: Backend) throws {
        try withStore(backend: backend, tracked: false) { s in
            let depth = 10_000
            var chain = [try #require(ctxs_slot_create(s.store, nil, nil))]
            #expect(ctxs_slot_assoc(chain[0], 0, intValue(1)) == statusOK)
            for level in 1...depth {
                let slot = try #require(ctxs_slot_create(s.store, nil, chain[level - 1]))
                // Every 100th level shadows key 0; every level adds its own key.
                if level % 100 == 0 { #expect(ctxs_slot_assoc(slot, 0, intValue(level + 1)) == statusOK) }
                #expect(ctxs_slot_assoc(slot, UInt64(level), intValue(level + 1)) == statusOK)
                chain.append(slot)
            }
            let deepest = chain[depth]
            #expect(ctxs_slot_depth(deepest) == depth)
            #expect(s.slotFind(deepest, 0) == intValue(depth + 1))
            #expect(s.slotFind(chain[depth - 1], 0) == intValue(depth / 100 * 100 - 100 + 1))
            #expect(s.slotFind(deepest, 1) == intValue(2), "a read falls through 9,999 layers")

            let snap = try s.snapshot(deepest)
            #expect(ctxs_map_count(snap) == depth + 1)
            #expect(find(snap, 0) == intValue(depth + 1))
            #expect(find(snap, 1) == intValue(2))
            #expect(ctxs_map_check(snap) == 1)
            ctxs_map_release(snap)

            // Drop every reference but the deepest: the chain lives on through it.
            for slot in chain.dropLast() { ctxs_slot_release(slot) }
            #expect(s.stats.live_slots == depth + 1)
            #expect(s.slotFind(deepest, UInt64(depth / 2)) == intValue(depth / 2 + 1))
            // The last release frees 10,001 slots without deep recursion.
            ctxs_slot_release(deepest)
            #expect(s.stats.live_slots == 0)
        }
    }

    @Test("a chained slot with an initial map is rejected and retains nothing", arguments: Backend.allCases)
    func chainedWithInitialIsInvalid(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            let m = try s.map([(1, s.value())])
            let live = s.live
            let counts = s.tracker.counts
            #expect(ctxs_slot_create(s.store, m, parent) == nil)
            #expect(s.live == live)
            #expect(s.tracker.counts == counts)
            ctxs_map_release(m)
            ctxs_slot_release(parent)
        }
    }

    /// The expected view of a slot in the random chain test: a plain map, or
    /// a layer (nil marks a removal) over a parent, opaque after clear/replace.
    struct SlotModel {
        var layer: [UInt64: Int?] = [:]
        var opaque = false
        var parent: Int?
    }

    static func view(_ models: [SlotModel], _ index: Int) -> [UInt64: Int] {
        let m = models[index]
        var result: [UInt64: Int] = [:]
        if let p = m.parent, !m.opaque { result = view(models, p) }
        for (k, v) in m.layer { result[k] = v }
        return result
    }

    @Test("chained: random operations on a chain match a layered model", arguments: Backend.allCases)
    func randomChain(backend: Backend) throws {
        try withStore(backend: backend, tracked: false) { s in
            var rng = SplitMix64(seed: 0x5EED_0006)
            let keys = ShapeTests.mixedKeys(&rng, count: 24)
            // slot 0: plain; 1: over 0; 2: over 1; 3: over 0.
            let parents: [Int?] = [nil, 0, 1, 0]
            var slots: [OpaquePointer] = []
            for p in parents {
                slots.append(try #require(ctxs_slot_create(s.store, nil, p.map { slots[$0] })))
            }
            defer { for slot in slots.reversed() { ctxs_slot_release(slot) } }
            var models = parents.map { SlotModel(parent: $0) }

            for step in 1...6_000 {
                let i = rng.below(slots.count)
                let key = keys[rng.below(keys.count)]
                switch rng.below(100) {
                case 0..<55:
                    let v = 1 + rng.below(50)
                    #expect(ctxs_slot_assoc(slots[i], key, intValue(v)) == statusOK)
                    models[i].layer[key] = v
                case 55..<92:
                    #expect(ctxs_slot_without(slots[i], key) == statusOK)
                    if models[i].parent == nil { models[i].layer[key] = nil } else { models[i].layer[key] = .some(nil) }
                case 92..<96:
                    #expect(ctxs_slot_clear(slots[i]) == statusOK)
                    models[i].layer = [:]
                    models[i].opaque = true
                default:
                    let contents = Dictionary(
                        uniqueKeysWithValues: keys.prefix(rng.below(6)).map { ($0, 1 + rng.below(50)) })
                    let m = try s.map(contents.sorted { $0.key < $1.key }.map { ($0.key, intValue($0.value)) })
                    #expect(ctxs_slot_replace(slots[i], m) == statusOK)
                    ctxs_map_release(m)
                    models[i].layer = contents.mapValues { Optional($0) }
                    models[i].opaque = true
                }

                let j = rng.below(slots.count)
                let probe = keys[rng.below(keys.count)]
                let expected = Self.view(models, j)[probe].map(intValue)
                try #require(s.slotFind(slots[j], probe) == expected, "step \(step): slot \(j) key \(probe)")

                if step % 200 == 0 {
                    for (index, slot) in slots.enumerated() {
                        let snap = try s.snapshot(slot)
                        let ok = mapMatches(snap, pointerModel(Self.view(models, index)))
                        #expect(ctxs_map_check(snap) == 1)
                        ctxs_map_release(snap)
                        try #require(ok, "step \(step): snapshot of slot \(index)")
                    }
                }
            }
        }
    }
}
