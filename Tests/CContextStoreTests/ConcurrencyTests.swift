import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

/// Runs `body(0..<threads)` on that many OS threads at once and waits for all.
func runConcurrently(threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Gate: Sendable {
        let arrived = Atomic<Int>(0)
    }
    let group = DispatchGroup()
    let gate = Gate()
    let start = DispatchSemaphore(value: 0)
    for t in 0..<threads {
        group.enter()
        let thread = Thread {
            // Everyone waits at the gate so the threads really overlap.
            if gate.arrived.add(1, ordering: .acquiringAndReleasing).newValue == threads {
                for _ in 0..<threads { start.signal() }
            }
            start.wait()
            body(t)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

/// Problems seen on worker threads, checked on the test's thread afterwards.
final class ProblemLog: Sendable {
    private let problems = Locked<[String]>([])

    func record(_ message: String) { problems.withLock { $0.append(message) } }

    func check(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let seen = problems.withLock { $0 }
        #expect(
            seen.isEmpty, "\(what): \(seen.count) problems, first: \(seen.prefix(5))", sourceLocation: sourceLocation)
    }
}

extension UnsafeMutableRawPointer {
    var bits: UInt { UInt(bitPattern: self) }
}

func pointer(bits: UInt) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: bits)! }

@Suite("Concurrency")
struct ConcurrencyTests {
    static let threads = 8

    /// Thread t's i-th key: distinct across threads, spread over the root.
    static func key(_ t: Int, _ i: Int) -> UInt64 { UInt64(i) << 8 | UInt64(t) }

    @Test("threads setting distinct keys through one slot lose no update", arguments: Backend.allCases)
    func setsThroughOneSlot(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let perThread = 5_000
            let slot = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let values = s.values(Self.threads).map(\.bits)
            let log = ProblemLog()

            runConcurrently(threads: Self.threads) { t in
                let mine = pointer(bits: values[t])
                for i in 0..<perThread {
                    if ctxs_slot_assoc(slot.raw, Self.key(t, i), mine) != statusOK { log.record("assoc \(t)/\(i)") }
                    var out: UnsafeMutableRawPointer? = nil
                    if ctxs_slot_find(slot.raw, Self.key(t, i), &out) != 1 || out != mine {
                        log.record("own key \(t)/\(i) not read back")
                    }
                    if let out { s.releaseValue(out) }
                    // Someone else's key: absent or theirs, nothing else.
                    let other = (t + 1 + i) % Self.threads
                    var theirs: UnsafeMutableRawPointer? = nil
                    if ctxs_slot_find(slot.raw, Self.key(other, i), &theirs) == 1 {
                        if theirs?.bits != values[other] { log.record("key \(other)/\(i) has a foreign value") }
                        if let theirs { s.releaseValue(theirs) }
                    }
                }
            }
            log.check("concurrent sets")

            let snap = try s.snapshot(slot.raw)
            #expect(ctxs_map_count(snap) == Self.threads * perThread)
            var expected: [UInt64: UnsafeMutableRawPointer] = [:]
            for t in 0..<Self.threads {
                for i in 0..<perThread { expected[Self.key(t, i)] = pointer(bits: values[t]) }
            }
            #expect(mapMatches(snap, expected))
            #expect(ctxs_map_check(snap) == 1)
            ctxs_map_release(snap)
            ctxs_slot_release(slot.raw)
        }
    }

    @Test("threads writing a parent and its chained child lose no update", arguments: Backend.allCases)
    func setsThroughAChain(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let perThread = 300
            let parent = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let child = SendablePointer(try #require(ctxs_slot_create(s.store, nil, parent.raw)))
            let values = s.values(Self.threads).map(\.bits)
            let log = ProblemLog()

            // Even threads write the parent, odd threads the child; all read through the child.
            runConcurrently(threads: Self.threads) { t in
                let target = t % 2 == 0 ? parent : child
                for i in 0..<perThread {
                    if ctxs_slot_assoc(target.raw, Self.key(t, i), pointer(bits: values[t])) != statusOK {
                        log.record("assoc \(t)/\(i)")
                    }
                    var out: UnsafeMutableRawPointer? = nil
                    if ctxs_slot_find(child.raw, Self.key(t, i), &out) != 1 || out?.bits != values[t] {
                        log.record("key \(t)/\(i) not visible through the child")
                    }
                    if let out { s.releaseValue(out) }
                }
            }
            log.check("concurrent chained sets")

            let childView = try s.snapshot(child.raw)
            let parentView = try s.snapshot(parent.raw)
            #expect(ctxs_map_count(childView) == Self.threads * perThread)
            #expect(ctxs_map_count(parentView) == Self.threads / 2 * perThread)
            for t in 0..<Self.threads {
                for i in 0..<perThread {
                    #expect(find(childView, Self.key(t, i))?.bits == values[t])
                    #expect((find(parentView, Self.key(t, i)) != nil) == (t % 2 == 0))
                }
            }
            ctxs_map_release(childView)
            ctxs_map_release(parentView)
            ctxs_slot_release(child.raw)
            ctxs_slot_release(parent.raw)
        }
    }

    @Test("threads forking and releasing roots of one map", arguments: Backend.allCases)
    func forkAndRelease(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let count = 256
            let values = s.values(count).map(\.bits)
            let shared = SendablePointer(
                try s.map((0..<count).map { (UInt64($0) &* 0x9E37_79B9_7F4A_7C15, pointer(bits: values[$0])) }))
            let before = s.live
            let log = ProblemLog()
            let extra = s.value().bits

            runConcurrently(threads: Self.threads) { t in
                var rng = SplitMix64(seed: UInt64(t))
                for round in 0..<3_000 {
                    let f = ctxs_map_fork(shared.raw)
                    let i = rng.below(count)
                    let k = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
                    if find(f, k)?.bits != values[i] { log.record("fork lost key \(i)") }
                    if round % 4 == 0 {
                        // A new root sharing every node but one path with the shared map.
                        var out: OpaquePointer? = nil
                        if ctxs_map_assoc(f, k, pointer(bits: extra), &out) != statusOK { log.record("assoc") }
                        if let out {
                            if ctxs_map_count(out) != count || find(out, k)?.bits != extra {
                                log.record("new root wrong")
                            }
                            var gone: OpaquePointer? = nil
                            if ctxs_map_without(out, k, &gone) != statusOK { log.record("without") }
                            if let gone {
                                if ctxs_map_count(gone) != count - 1 { log.record("without count") }
                                ctxs_map_release(gone)
                            }
                            ctxs_map_release(out)
                        }
                    }
                    ctxs_map_release(f)
                }
            }
            log.check("fork and release")

            #expect(s.live == before)
            #expect(ctxs_map_count(shared.raw) == count)
            #expect(ctxs_map_check(shared.raw) == 1)
            ctxs_map_release(shared.raw)
        }
    }

    @Test("readers get a live +1 value while a writer keeps replacing it", arguments: Backend.allCases)
    func readersAndReplacingWriter(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let slot = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let log = ProblemLog()
            let tracker = s.tracker
            let writes = 4_000

            runConcurrently(threads: 4) { t in
                if t == 0 {
                    // The only reference to each value is the store's: replacing it frees it.
                    for _ in 0..<writes {
                        let v = tracker.makeValue()
                        let rc = withExtendedLifetime(v) { ctxs_slot_assoc(slot.raw, 1, v.pointer) }
                        if rc != statusOK { log.record("assoc") }
                    }
                } else {
                    for _ in 0..<writes {
                        var out: UnsafeMutableRawPointer? = nil
                        guard ctxs_slot_find(slot.raw, 1, &out) == 1, let out else { continue }
                        let value = TrackedValue.from(out)
                        if !tracker.isAlive(value.id) { log.record("read a dead value") }
                        s.releaseValue(out)
                    }
                }
            }
            log.check("readers and writer")
            #expect(tracker.createdCount == writes)
            #expect(tracker.aliveCount == 1, "only the value in the slot is left")
            ctxs_slot_release(slot.raw)
            #expect(tracker.aliveCount == 0)
        }
    }

    @Test("threads creating chained slots over one parent while it changes", arguments: Backend.allCases)
    func chainsOverOneParent(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let parent = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let base = s.value().bits
            #expect(ctxs_slot_assoc(parent.raw, 0, pointer(bits: base)) == statusOK)
            let values = s.values(Self.threads).map(\.bits)
            let log = ProblemLog()

            runConcurrently(threads: Self.threads) { t in
                for i in 0..<500 {
                    if t == 0 {
                        _ = ctxs_slot_assoc(parent.raw, UInt64(1000 + i), pointer(bits: values[0]))
                        continue
                    }
                    guard let child = ctxs_slot_create(s.store, nil, parent.raw) else {
                        log.record("create")
                        continue
                    }
                    if ctxs_slot_assoc(child, UInt64(t), pointer(bits: values[t])) != statusOK { log.record("assoc") }
                    var out: UnsafeMutableRawPointer? = nil
                    if ctxs_slot_find(child, 0, &out) != 1 || out?.bits != base { log.record("inherited key") }
                    if let out { s.releaseValue(out) }
                    var snap: OpaquePointer? = nil
                    if ctxs_slot_snapshot(child, &snap) != statusOK { log.record("snapshot") }
                    if let snap {
                        if find(snap, UInt64(t))?.bits != values[t] || find(snap, 0)?.bits != base {
                            log.record("snapshot contents")
                        }
                        ctxs_map_release(snap)
                    }
                    ctxs_slot_release(child)
                }
            }
            log.check("chains over one parent")
            #expect(s.stats.live_slots == 1)
            ctxs_slot_release(parent.raw)
        }
    }

    @Test("threads interning the same names get the same ids")
    func concurrentInterning() throws {
        try withStore { s in
            let shared = (0..<500).map { "shared-\($0)" }
            let ids = Locked<[[String: UInt64]]>(Array(repeating: [:], count: Self.threads))
            let log = ProblemLog()

            runConcurrently(threads: Self.threads) { t in
                var rng = SplitMix64(seed: UInt64(t) + 1)
                var mine: [String: UInt64] = [:]
                let names = shared.shuffled(using: &rng) + (0..<50).map { "own-\(t)-\($0)" }
                for name in names {
                    var id: UInt64 = 0
                    let rc = name.utf8CString.withUnsafeBufferPointer {
                        ctxs_intern(s.store, $0.baseAddress, $0.count - 1, &id)
                    }
                    if rc != statusOK { log.record("intern \(name)") }
                    mine[name] = id
                }
                ids.withLock { $0[t] = mine }
            }
            log.check("concurrent interning")

            let all = ids.withLock { $0 }
            for name in shared {
                #expect(Set(all.map { $0[name] }).count == 1, "\(name) got several ids")
            }
            var byName: [String: UInt64] = [:]
            for m in all { byName.merge(m) { a, _ in a } }
            #expect(byName.count == shared.count + Self.threads * 50)
            #expect(Set(byName.values).count == byName.count, "distinct names, distinct ids")
            #expect(s.stats.interned_keys == byName.count)
        }
    }
}
