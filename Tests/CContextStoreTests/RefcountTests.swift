import CContextStore
import ContextStoreTestSupport
import Testing

/// Value ownership: the store retains a value once per entry created and
/// releases it once when the last map holding that entry is freed.
///
/// Owns: the retain/release contract as Swift's ARC meets it. The C harness
/// (`Tests/C/test_refcount.c`) tracks every value under ASan.
@Suite("Refcount")
struct RefcountTests {
    @Test("each assoc retains once; entries are released when their last map goes", arguments: Backend.allCases)
    func exactRetainsAndReleases(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let t = s.tracker
            let (a, b, c) = (s.value(), s.value(), s.value())

            let m1 = try s.map([(1, a)])
            #expect(t.counts == .init(retains: 1, releases: 0))
            let m2 = try s.assoc(m1, 2, b)
            #expect(t.counts == .init(retains: 2, releases: 0))
            let m3 = try s.assoc(m2, 1, c)  // replaces a; m1 and m2 still hold it
            #expect(t.counts == .init(retains: 3, releases: 0))
            #expect(t.counts(of: a) == .init(retains: 1, releases: 0))
            #expect(t.counts(of: b) == .init(retains: 1, releases: 0))
            #expect(t.counts(of: c) == .init(retains: 1, releases: 0))
            #expect(s.stats.live_values == 3)

            // Removing makes no entry and frees none while older maps hold it.
            let m4 = try s.without(m3, 2)
            #expect(t.counts == .init(retains: 3, releases: 0))

            ctxs_map_release(m1)  // 1 -> a is still held by m2
            #expect(t.counts(of: a).releases == 0)
            ctxs_map_release(m2)  // now 1 -> a goes; 2 -> b is still in m3
            #expect(t.counts(of: a) == .init(retains: 1, releases: 1))
            #expect(t.counts(of: b).releases == 0)
            #expect(s.stats.live_values == 2)
            ctxs_map_release(m3)  // 2 -> b goes; 1 -> c is still in m4
            #expect(t.counts(of: b) == .init(retains: 1, releases: 1))
            #expect(t.counts(of: c).releases == 0)
            ctxs_map_release(m4)
            #expect(t.counts(of: c) == .init(retains: 1, releases: 1))
            #expect(t.counts == .init(retains: 3, releases: 3))
        }
    }

    @Test("a replaced value lives while an older map holds it, and dies with that map", arguments: Backend.allCases)
    func replacedValueLifetime(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let t = s.tracker
            var old: TrackedValue? = t.makeValue()
            let oldID = old!.id
            let replacement = s.value()
            let m1 = try withExtendedLifetime(old!) { try s.map([(9, old!.pointer)]) }
            old = nil  // the store's reference is now the only one
            #expect(t.isAlive(oldID))

            let m2 = try s.assoc(m1, 9, replacement)
            #expect(t.isAlive(oldID), "m1 still holds the old value")
            let oldPointer = try #require(find(m1, 9))
            #expect(TrackedValue.from(oldPointer).id == oldID)
            #expect(find(m2, 9) == replacement)

            ctxs_map_release(m1)
            #expect(!t.isAlive(oldID), "the last map holding the old value is gone")
            #expect(find(m2, 9) == replacement)
            ctxs_map_release(m2)
        }
    }

    @Test("assoc of the identical value returns the same map and retains nothing", arguments: Backend.allCases)
    func identicalValue(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let a = s.value()
            let m = try s.map([(1, a), (33, s.value()), (1 ^ (1 << 60), s.value())])
            let counts = s.tracker.counts
            let live = s.live
            let allocations = s.allocationCount
            for key: UInt64 in [1, 33, 1 ^ (1 << 60)] {
                let same = try s.assoc(m, key, try #require(find(m, key)))
                #expect(same == m)
                ctxs_map_release(same)  // it was retained: one reference each
            }
            #expect(s.tracker.counts == counts)
            #expect(s.live == live)
            #expect(s.allocationCount == allocations)
            #expect(find(m, 1) == a)
            ctxs_map_release(m)
        }
    }

    @Test("every value retained is released exactly once, across many maps", arguments: Backend.allCases)
    func balancedAcrossManyMaps(backend: Backend) throws {
        try withStore(backend: backend) { s in
            var rng = SplitMix64(seed: 0x5EED_0005)
            let keys = ShapeTests.mixedKeys(&rng, count: 64)
            var maps = [s.emptyMap()]
            var assocs = 0
            for _ in 0..<2_000 {
                let base = maps[rng.below(maps.count)]
                let key = keys[rng.below(keys.count)]
                if rng.below(3) == 0 {
                    maps.append(try s.without(base, key))
                } else {
                    // A fresh value each time: every successful assoc creates one entry.
                    maps.append(try s.assoc(base, key, s.value()))
                    assocs += 1
                }
                if maps.count > 40 { ctxs_map_release(maps.remove(at: rng.below(maps.count))) }
            }
            #expect(s.tracker.retains == assocs)
            #expect(s.stats.live_values == s.tracker.retains - s.tracker.releases)
            for m in maps { ctxs_map_release(m) }
            #expect(s.tracker.releases == assocs)
            #expect(s.tracker.unbalancedValues.isEmpty)
        }
    }

    @Test("a value's release may re-enter the store", arguments: Backend.allCases)
    func releaseReentersStore(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let slot = try #require(ctxs_slot_create(s.store, nil, nil))
            let marker = s.value()
            let markerBits = UInt(bitPattern: marker)
            let store = SendablePointer(s.store)
            let slotRef = SendablePointer(slot)
            var reentrant: ReentrantValue? = ReentrantValue(tracker: s.tracker) {
                // Runs inside options.release: write to a slot, read a map, intern a name.
                _ = ctxs_slot_assoc(slotRef.raw, 77, UnsafeMutableRawPointer(bitPattern: markerBits))
                var id: UInt64 = 0
                _ = ctxs_intern(store.raw, "reentered", 9, &id)
            }
            let m = try withExtendedLifetime(reentrant!) { try s.map([(1, reentrant!.pointer)]) }
            reentrant = nil
            ctxs_map_release(m)  // the last reference: the deinit runs inside the store's release
            #expect(s.slotFind(slot, 77) == marker)
            var id: UInt64 = 0
            #expect(ctxs_intern_find(s.store, "reentered", 9, &id) == 1)
            ctxs_slot_release(slot)
        }
    }
}

/// A tracked value that runs `onDeinit` when it dies.
final class ReentrantValue: Sendable {
    let inner: TrackedValue
    let onDeinit: @Sendable () -> Void

    init(tracker: LifetimeTracker, onDeinit: @escaping @Sendable () -> Void) {
        inner = tracker.makeValue()
        self.onDeinit = onDeinit
    }

    deinit { onDeinit() }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
}
