import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Every allocation point of every fallible call fails cleanly: the call
/// returns CTXS_ENOMEM (or NULL), its inputs are unchanged, no live object
/// is left over, and no value is retained or released.
///
/// K, the number of allocations a call makes, is measured on one successful
/// call in the same state (the same immutable map, or a twin slot or store
/// built the same way); then for each i in 1...K the i-th allocation is made
/// to fail. Arming K + 1 must let the call succeed: K covers them all.
///
/// Owns: the failure contract as Swift sees it, on every backend. The C
/// harness (`Tests/C/test_alloc_failure.c`) fails the same points under
/// ASan and LeakSanitizer, which this suite cannot run with leak checks.
@Suite("Allocation failure")
struct AllocationFailureTests {
    /// A recognisable out-value that a failing call must leave untouched.
    static var untouchedMap: OpaquePointer { OpaquePointer(bitPattern: 0xDEAD_BEE0)! }

    /// Runs `attempt` with each of its `allocations` allocation points failing.
    /// `attempt` returns the call's status; `unchanged` checks the inputs.
    /// With `balancedCallbacksSuffice`, a failing call may retain and release
    /// values as long as every retain it made is released again (a merge that
    /// builds entries and unwinds them); otherwise it must make no callback.
    static func failEachAllocation(
        _ s: StoreFixture,
        _ what: String,
        allocations: UInt64,
        balancedCallbacksSuffice: Bool = false,
        attempt: () -> Int32,
        unchanged: () throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        guard allocations > 0 else { return }
        for i in 1...allocations {
            let live = s.live
            let counts = s.tracker.counts
            let interned = s.stats.interned_keys
            ctxs_store_fail_allocation(s.store, i)
            let before = s.allocationCount
            let rc = attempt()
            let attempted = s.allocationCount - before
            ctxs_store_fail_allocation(s.store, 0)
            #expect(rc == statusENOMEM, "\(what): allocation \(i) of \(allocations)", sourceLocation: sourceLocation)
            #expect(attempted >= i, "\(what): the failing allocation is counted", sourceLocation: sourceLocation)
            #expect(s.live == live, "\(what): allocation \(i) leaked", sourceLocation: sourceLocation)
            let after = s.tracker.counts
            if balancedCallbacksSuffice {
                #expect(
                    after.retains - after.releases == counts.retains - counts.releases,
                    "\(what): allocation \(i) left a value retained or over-released", sourceLocation: sourceLocation)
            } else {
                #expect(
                    after == counts, "\(what): allocation \(i) retained or released", sourceLocation: sourceLocation)
            }
            #expect(s.stats.interned_keys == interned, "\(what): allocation \(i)", sourceLocation: sourceLocation)
            try unchanged()
        }
    }

    /// Measures the allocations of `call` (which must succeed and undo itself).
    static func measure(_ s: StoreFixture, _ call: () throws -> Void) rethrows -> UInt64 {
        let before = s.allocationCount
        try call()
        return s.allocationCount - before
    }

    /// Records what a map holds, to prove later that it did not change.
    struct MapImage {
        let map: OpaquePointer
        let fork: OpaquePointer  // taken before any failure
        let twin: OpaquePointer  // the same entries, built separately
        let entries: [UInt64: UnsafeMutableRawPointer]
        let nodes: Int
        let depth: Int32

        init(_ s: StoreFixture, _ map: OpaquePointer) throws {
            self.map = map
            fork = ctxs_map_fork(map)
            entries = CContextStoreTests.entries(of: map)
            twin = try s.map(entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            nodes = ctxs_map_node_count(map)
            depth = ctxs_map_depth(map)
        }

        func check(sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(ctxs_map_same_shape(map, fork) == 1, sourceLocation: sourceLocation)
            #expect(ctxs_map_same_shape(map, twin) == 1, sourceLocation: sourceLocation)
            #expect(ctxs_map_count(map) == entries.count, sourceLocation: sourceLocation)
            #expect(ctxs_map_node_count(map) == nodes, sourceLocation: sourceLocation)
            #expect(ctxs_map_depth(map) == depth, sourceLocation: sourceLocation)
            for (k, v) in entries { #expect(find(map, k) == v, sourceLocation: sourceLocation) }
            #expect(ctxs_map_check(map) == 1, sourceLocation: sourceLocation)
        }

        func release() {
            ctxs_map_release(fork)
            ctxs_map_release(twin)
        }
    }

    /// Map scenarios: a base map and a key to assoc or remove.
    static func mapScenarios(_ s: StoreFixture) throws -> [(name: String, map: OpaquePointer, key: UInt64)] {
        let deepA: UInt64 = 0x0123_4567_89AB_CDEF
        let deepB = deepA ^ (1 << 60)
        var rng = SplitMix64(seed: 0x5EED_0007)
        let big = try s.map(ShapeTests.mixedKeys(&rng, count: 200).map { ($0, s.value()) })
        let bigKey = try #require(entries(of: big).keys.min())
        return [
            ("empty map, new key", s.emptyMap(), 1),
            ("one entry, root insert", try s.map([(1, s.value())]), 2),
            ("one entry, split at level 1", try s.map([(1, s.value())]), 33),
            ("one entry, split at level 12", try s.map([(deepA, s.value())]), deepB),
            (
                "deep pair, insert in the deepest node", try s.map([(deepA, s.value()), (deepB, s.value())]),
                deepA ^ (2 << 60)
            ),
            ("deep pair, remove to collapse", try s.map([(deepA, s.value()), (deepB, s.value())]), deepB),
            ("partial collapse", try s.map([(1, s.value()), (1025, s.value()), (33, s.value())]), 1025),
            ("200 entries, existing key", ctxs_map_fork(big), bigKey),
            ("200 entries, new key", big, bigKey ^ (1 << 63)),
        ]
    }

    @Test("ctxs_map_assoc at every allocation point", arguments: Backend.allCases)
    func mapAssoc(backend: Backend) throws {
        try withStore(backend: backend) { s in
            for scenario in try Self.mapScenarios(s) {
                let value = s.value()  // a new value: replacing a key really changes the map
                let image = try MapImage(s, scenario.map)
                let k = try Self.measure(s) {
                    let m = try s.assoc(scenario.map, scenario.key, value)
                    ctxs_map_release(m)
                }
                #expect(k >= 1, "\(scenario.name): a new map needs memory")

                try Self.failEachAllocation(s, scenario.name, allocations: k) {
                    var out: OpaquePointer? = Self.untouchedMap
                    let rc = ctxs_map_assoc(scenario.map, scenario.key, value, &out)
                    #expect(out == Self.untouchedMap, "\(scenario.name): *out written on failure")
                    return rc
                } unchanged: {
                    image.check()
                }

                // Armed past the last allocation, the call succeeds: K covered them all.
                ctxs_store_fail_allocation(s.store, k + 1)
                let m = try s.assoc(scenario.map, scenario.key, value)
                ctxs_store_fail_allocation(s.store, 0)
                #expect(find(m, scenario.key) == value)
                #expect(ctxs_map_count(m) == image.entries.count + (image.entries[scenario.key] == nil ? 1 : 0))
                #expect(ctxs_map_check(m) == 1)
                ctxs_map_release(m)
                image.check()
                image.release()
                ctxs_map_release(scenario.map)
            }
        }
    }

    @Test("ctxs_map_without at every allocation point", arguments: Backend.allCases)
    func mapWithout(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var scenarios = try Self.mapScenarios(s)
            scenarios.append(("absent key", try s.map([(1, s.value()), (2, s.value())]), 3))
            scenarios.append(("last key", try s.map([(5, s.value())]), 5))
            for scenario in scenarios {
                let image = try MapImage(s, scenario.map)
                let k = try Self.measure(s) {
                    let m = try s.without(scenario.map, scenario.key)
                    ctxs_map_release(m)
                }

                try Self.failEachAllocation(s, scenario.name, allocations: k) {
                    var out: OpaquePointer? = Self.untouchedMap
                    let rc = ctxs_map_without(scenario.map, scenario.key, &out)
                    #expect(out == Self.untouchedMap, "\(scenario.name): *out written on failure")
                    return rc
                } unchanged: {
                    image.check()
                }

                ctxs_store_fail_allocation(s.store, k + 1)
                let m = try s.without(scenario.map, scenario.key)
                ctxs_store_fail_allocation(s.store, 0)
                #expect(ctxs_map_find(m, scenario.key, nil) == 0)
                #expect(ctxs_map_count(m) == image.entries.count - (image.entries[scenario.key] == nil ? 0 : 1))
                #expect(ctxs_map_check(m) == 1)
                ctxs_map_release(m)
                image.check()
                image.release()
                ctxs_map_release(scenario.map)
            }
        }
    }

    // MARK: Slots

    /// How to build a slot; built twice (a twin to measure on, one to fail on).
    enum SlotShape: CaseIterable {
        case plainEmpty, plainWithEntries, plainPendingFull, chainedEmptyLayer, chainedWithLayer
    }

    struct SlotScenario {
        let name: String
        let shape: SlotShape
        let key: UInt64
        let remove: Bool
        /// A set the slot keeps pending (see slot.c): it allocates nothing.
        var pending = false
    }

    static let slotScenarios: [SlotScenario] = [
        .init(name: "plain empty, set (pending)", shape: .plainEmpty, key: 1, remove: false, pending: true),
        .init(
            name: "plain, set new key (pending)", shape: .plainWithEntries, key: 1 ^ (1 << 60), remove: false,
            pending: true),
        .init(name: "plain, set new key (pending full)", shape: .plainPendingFull, key: 1 ^ (1 << 60), remove: false),
        .init(
            name: "plain, replace a pending value", shape: .plainPendingFull, key: 1 << 62, remove: false, pending: true
        ),
        .init(name: "plain, remove a pending key", shape: .plainPendingFull, key: 1 << 62, remove: true),
        .init(name: "plain, replace a value", shape: .plainWithEntries, key: 33, remove: false),
        .init(name: "plain, remove a key", shape: .plainWithEntries, key: 33, remove: true),
        .init(name: "chained empty layer, set", shape: .chainedEmptyLayer, key: 7, remove: false),
        .init(name: "chained empty layer, hide inherited", shape: .chainedEmptyLayer, key: 2, remove: true),
        .init(name: "chained, set new key", shape: .chainedWithLayer, key: 8, remove: false),
        .init(name: "chained, override inherited", shape: .chainedWithLayer, key: 3, remove: false),
        .init(name: "chained, hide inherited", shape: .chainedWithLayer, key: 2, remove: true),
        .init(name: "chained, remove own key", shape: .chainedWithLayer, key: 100, remove: true),
    ]

    /// Builds a slot of `shape`; `parent` is shared by the twins.
    static func makeSlot(_ s: StoreFixture, _ shape: SlotShape, parent: OpaquePointer, initial: OpaquePointer) throws
        -> OpaquePointer
    {
        switch shape {
        case .plainEmpty:
            return try #require(ctxs_slot_create(s.store, nil, nil))
        case .plainWithEntries:
            return try #require(ctxs_slot_create(s.store, initial, nil))
        case .plainPendingFull:
            let slot = try #require(ctxs_slot_create(s.store, initial, nil))
            for i in 0..<UInt64(CTXS_SLOT_PENDING) {
                try #require(ctxs_slot_assoc(slot, (1 << 62) + i, s.value()) == statusOK)
            }
            return slot
        case .chainedEmptyLayer:
            return try #require(ctxs_slot_create(s.store, nil, parent))
        case .chainedWithLayer:
            let slot = try #require(ctxs_slot_create(s.store, nil, parent))
            for k: UInt64 in [100, 132, 5] { try #require(ctxs_slot_assoc(slot, k, s.value()) == statusOK) }
            return slot
        }
    }

    /// What a slot reads as, to prove later that it did not change.
    struct SlotImage {
        let snapshot: OpaquePointer
        let entries: [UInt64: UnsafeMutableRawPointer]

        init(_ s: StoreFixture, _ slot: OpaquePointer) throws {
            snapshot = try Self.contents(s, slot)
            entries = CContextStoreTests.entries(of: snapshot)
        }

        /// The slot's contents as a map, taken from a copy of it: a snapshot
        /// of the slot itself would move its pending entries into its map,
        /// and change which path the next write takes.
        static func contents(
            _ s: StoreFixture, _ slot: OpaquePointer, sourceLocation: SourceLocation = #_sourceLocation
        ) throws -> OpaquePointer {
            let copy = try #require(ctxs_slot_copy(s.store, slot, nil), sourceLocation: sourceLocation)
            defer { ctxs_slot_release(copy) }
            return try s.snapshot(copy, sourceLocation: sourceLocation)
        }

        func check(
            _ s: StoreFixture, _ slot: OpaquePointer, probe: UInt64, sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            let now = try Self.contents(s, slot, sourceLocation: sourceLocation)
            #expect(ctxs_map_same_shape(now, snapshot) == 1, sourceLocation: sourceLocation)
            #expect(CContextStoreTests.entries(of: now) == entries, sourceLocation: sourceLocation)
            ctxs_map_release(now)
            for (k, v) in entries { #expect(s.slotFind(slot, k) == v, sourceLocation: sourceLocation) }
            #expect(s.slotFind(slot, probe) == entries[probe], sourceLocation: sourceLocation)
        }
    }

    @Test("ctxs_slot_assoc and ctxs_slot_without at every allocation point", arguments: Backend.allCases)
    func slotAssocAndWithout(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            for k: UInt64 in 1...4 { try #require(ctxs_slot_assoc(parent, k, s.value()) == statusOK) }
            let initial = try s.map([(33, s.value()), (1, s.value()), (1025, s.value()), (65, s.value())])

            for scenario in Self.slotScenarios {
                let value = s.value()
                func call(_ slot: OpaquePointer) -> Int32 {
                    scenario.remove ? ctxs_slot_without(slot, scenario.key) : ctxs_slot_assoc(slot, scenario.key, value)
                }
                let twin = try Self.makeSlot(s, scenario.shape, parent: parent, initial: initial)
                let k = Self.measure(s) { #expect(call(twin) == statusOK, "\(scenario.name)") }
                ctxs_slot_release(twin)
                if scenario.pending {
                    #expect(k == 0, "\(scenario.name): a pending write allocates nothing")
                } else if !scenario.remove {
                    #expect(k >= 1, "\(scenario.name): a set makes a new map")
                }

                let slot = try Self.makeSlot(s, scenario.shape, parent: parent, initial: initial)
                let image = try SlotImage(s, slot)
                try Self.failEachAllocation(s, scenario.name, allocations: k) {
                    call(slot)
                } unchanged: {
                    try image.check(s, slot, probe: scenario.key)
                }

                ctxs_store_fail_allocation(s.store, k + 1)
                #expect(call(slot) == statusOK, "\(scenario.name)")
                ctxs_store_fail_allocation(s.store, 0)
                #expect(s.slotFind(slot, scenario.key) == (scenario.remove ? nil : value), "\(scenario.name)")
                ctxs_map_release(image.snapshot)
                ctxs_slot_release(slot)
            }
            ctxs_map_release(initial)
            ctxs_slot_release(parent)
        }
    }

    @Test("ctxs_slot_create at every allocation point", arguments: Backend.allCases)
    func slotCreate(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(parent, 1, s.value()) == statusOK)
            // The first chained child also gives the parent its lineage (one
            // more allocation, once); make that happen before measuring.
            ctxs_slot_release(try #require(ctxs_slot_create(s.store, nil, parent)))
            let initial = try s.map([(1, s.value()), (2, s.value())])
            let initialImage = try MapImage(s, initial)
            let cases: [(String, OpaquePointer?, OpaquePointer?)] = [
                ("plain, empty", nil, nil), ("plain, initial map", initial, nil), ("chained", nil, parent),
            ]
            for (name, initialMap, parentSlot) in cases {
                let k = try Self.measure(s) {
                    let created: OpaquePointer? = ctxs_slot_create(s.store, initialMap, parentSlot)
                    let slot = try #require(created)
                    ctxs_slot_release(slot)
                }
                #expect(k >= 1, "\(name): a slot needs memory")
                try Self.failEachAllocation(s, name, allocations: k) {
                    guard let slot = ctxs_slot_create(s.store, initialMap, parentSlot) else { return statusENOMEM }
                    ctxs_slot_release(slot)
                    return statusOK
                } unchanged: {
                    initialImage.check()
                    #expect(ctxs_slot_find(parent, 1, nil) == 1)
                }
                ctxs_store_fail_allocation(s.store, k + 1)
                let created: OpaquePointer? = ctxs_slot_create(s.store, initialMap, parentSlot)
                let slot = try #require(created, "\(name)")
                ctxs_store_fail_allocation(s.store, 0)
                #expect(ctxs_slot_find(slot, 1, nil) == (name == "plain, empty" ? 0 : 1))
                ctxs_slot_release(slot)
            }
            initialImage.release()
            ctxs_map_release(initial)
            ctxs_slot_release(parent)
        }
    }

    @Test("ctxs_slot_snapshot of a chained slot at every allocation point", arguments: Backend.allCases)
    func chainedSnapshot(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = try #require(ctxs_slot_create(s.store, nil, nil))
            let first = s.value()
            #expect(ctxs_slot_assoc(parent, 1, first) == statusOK)
            for k: UInt64 in 2...20 { #expect(ctxs_slot_assoc(parent, k, s.value()) == statusOK) }
            let child = try #require(ctxs_slot_create(s.store, nil, parent))
            for k: UInt64 in 15...30 { #expect(ctxs_slot_assoc(child, k, s.value()) == statusOK) }
            for k: UInt64 in 1...3 { #expect(ctxs_slot_without(child, k) == statusOK) }
            // A chained slot caches its merged view until the chain is written;
            // rewriting key 1 with its own value (no allocation, no change)
            // makes every snapshot below merge afresh.
            let invalidate = { #expect(ctxs_slot_assoc(parent, 1, first) == statusOK) }

            let k = try Self.measure(s) {
                invalidate()
                ctxs_map_release(try s.snapshot(child))
            }
            let image = try SlotImage(s, child)
            #expect(ctxs_map_count(image.snapshot) == 27)
            // Merging builds new entries (retaining their values) and unwinds them on failure.
            try Self.failEachAllocation(s, "chained snapshot", allocations: k, balancedCallbacksSuffice: true) {
                invalidate()
                var out: OpaquePointer? = Self.untouchedMap
                let rc = ctxs_slot_snapshot(child, &out)
                #expect(out == Self.untouchedMap, "*out written on failure")
                return rc
            } unchanged: {
                try image.check(s, child, probe: 2)
            }
            ctxs_map_release(image.snapshot)
            ctxs_slot_release(child)
            ctxs_slot_release(parent)
        }
    }

    // MARK: Interning

    @Test("ctxs_intern at every allocation point", arguments: Backend.allCases)
    func intern(backend: Backend) throws {
        let history = (0..<40).map { Array("earlier-\($0)".utf8) }
        let names: [(String, [UInt8])] = [
            ("short name", Array("request.id".utf8)),
            ("empty name", []),
            ("name with NUL", [0x61, 0x00, 0x62]),
            ("1 MiB name", (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
        ]
        for (what, name) in names {
            // The twin store has the same history: the same allocations.
            var k: UInt64 = 0
            try withStore(backend: backend) { twin in
                for h in history { _ = try Self.internOK(twin, h) }
                k = try Self.measure(twin) { _ = try Self.internOK(twin, name) }
            }
            #expect(k >= 1, "\(what): a new name needs memory")

            try withStore(backend: backend) { s in
                for h in history { _ = try Self.internOK(s, h) }
                let sentinel: UInt64 = 0xFEED_FACE_CAFE_BEEF
                try Self.failEachAllocation(s, what, allocations: k) {
                    var id = sentinel
                    let rc = name.withUnsafeBytes { ctxs_intern(s.store, $0.baseAddress, $0.count, &id) }
                    #expect(id == sentinel, "\(what): *id written on failure")
                    return rc
                } unchanged: {
                    var id: UInt64 = 0
                    let found = name.withUnsafeBytes { ctxs_intern_find(s.store, $0.baseAddress, $0.count, &id) }
                    #expect(found == 0, "\(what): a failed intern left the name behind")
                }
                ctxs_store_fail_allocation(s.store, k + 1)
                let id = try Self.internOK(s, name)
                ctxs_store_fail_allocation(s.store, 0)
                var found: UInt64 = 0
                #expect(name.withUnsafeBytes { ctxs_intern_find(s.store, $0.baseAddress, $0.count, &found) } == 1)
                #expect(found == id)
                #expect(s.stats.interned_keys == history.count + 1)
            }
        }
    }

    static func internOK(_ s: StoreFixture, _ name: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> UInt64
    {
        var id: UInt64 = 0
        let rc = name.withUnsafeBytes { ctxs_intern(s.store, $0.baseAddress, $0.count, &id) }
        try #require(rc == statusOK, sourceLocation: sourceLocation)
        return id
    }
}
