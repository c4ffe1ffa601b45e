import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

/// Seeded random operations on a map, checked step by step against a Swift
/// `Dictionary` model: assoc, without, keeping a fork (with a copy of the
/// model), releasing a kept fork, and continuing from a kept fork (so shared
/// maps are mutated too, not only unique ones).
///
/// Owns: a second, independent model (Swift's `Dictionary`) of the trie. The
/// C harness's model check (`Tests/C/test_trie.c`, `map_model.c`) runs
/// under ASan and UBSan, which this one does not.
@Suite("Model check")
struct ModelCheckTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `operations` seeded operations in store `s`. Model values are
    /// 1...valueCount; `pointer` turns one into the value handed to C.
    static func run(
        _ s: StoreFixture,
        operations: Int,
        seed: UInt64,
        valueCount: Int,
        pointer: (Int) -> UnsafeMutableRawPointer
    ) throws {
        var rng = SplitMix64(seed: seed)
        // Few enough keys that about half the removals hit; colliders make deep paths.
        let keys = ShapeTests.mixedKeys(&rng, count: 192)
        var current = s.emptyMap()
        var model: [UInt64: Int] = [:]
        var kept: [(map: OpaquePointer, model: [UInt64: Int])] = []
        defer {
            ctxs_map_release(current)
            for k in kept { ctxs_map_release(k.map) }
        }

        func expected(_ m: [UInt64: Int]) -> [UInt64: UnsafeMutableRawPointer] { m.mapValues(pointer) }

        func verifyFully(_ map: OpaquePointer, _ m: [UInt64: Int], _ what: String) throws {
            guard mapMatches(map, expected(m)) else { throw Failure(description: "\(what) differs from its model") }
            guard ctxs_map_check(map) == 1 else { throw Failure(description: "\(what) fails ctxs_map_check") }
        }

        for step in 1...operations {
            let op = rng.below(100)
            switch op {
            case 0..<45:
                let key = keys[rng.below(keys.count)]
                let v = 1 + rng.below(valueCount)
                var out: OpaquePointer? = nil
                let rc = ctxs_map_assoc(current, key, pointer(v), &out)
                guard rc == statusOK, let out else { throw Failure(description: "step \(step): assoc returned \(rc)") }
                if model[key] == v, out != current {
                    throw Failure(description: "step \(step): assoc of the same value made a new map")
                }
                ctxs_map_release(current)
                current = out
                model[key] = v
            case 45..<80:
                let key = keys[rng.below(keys.count)]
                var out: OpaquePointer? = nil
                let rc = ctxs_map_without(current, key, &out)
                guard rc == statusOK, let out else {
                    throw Failure(description: "step \(step): without returned \(rc)")
                }
                if model[key] == nil, out != current {
                    throw Failure(description: "step \(step): without of an absent key made a new map")
                }
                ctxs_map_release(current)
                current = out
                model[key] = nil
            case 80..<88 where kept.count < 24:
                kept.append((ctxs_map_fork(current), model))
            case 88..<95 where !kept.isEmpty:
                let gone = kept.remove(at: rng.below(kept.count))
                try verifyFully(gone.map, gone.model, "step \(step): kept fork before its release")
                ctxs_map_release(gone.map)
            case 95..<100 where !kept.isEmpty:
                let from = kept[rng.below(kept.count)]
                ctxs_map_release(current)
                current = ctxs_map_fork(from.map)
                model = from.model
            default:
                break
            }

            guard ctxs_map_count(current) == model.count else {
                throw Failure(description: "step \(step): count \(ctxs_map_count(current)), model \(model.count)")
            }
            let probe = keys[rng.below(keys.count)]
            guard find(current, probe) == model[probe].map(pointer) else {
                throw Failure(description: "step \(step): find(\(probe)) differs from the model")
            }

            if step % 1_000 == 0 {
                try verifyFully(current, model, "step \(step): current map")
                if s.tracked {
                    let stats = s.stats
                    let counts = s.tracker.counts
                    guard stats.live_values == counts.retains - counts.releases else {
                        throw Failure(
                            description:
                                "step \(step): live_values \(stats.live_values), retains - releases \(counts.retains - counts.releases)"
                        )
                    }
                }
            }
        }

        try verifyFully(current, model, "final map")
        for (index, k) in kept.enumerated() {
            try verifyFully(k.map, k.model, "kept fork \(index) at the end")
        }
    }

    @Test("200,000 operations against Dictionary, integer values, no callbacks", arguments: Backend.allCases)
    func integerValues(backend: Backend) throws {
        try withStore(backend: backend, tracked: false) { s in
            try Self.run(s, operations: 200_000, seed: 0xC0FF_EE00_0000_0001, valueCount: 1_000, pointer: intValue)
        }
    }

    @Test("30,000 operations against Dictionary, tracked values with callbacks", arguments: Backend.allCases)
    func trackedValues(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let values = s.values(64)
            try Self.run(s, operations: 30_000, seed: 0xC0FF_EE00_0000_0002, valueCount: values.count) {
                values[$0 - 1]
            }
        }
    }
}
