import CContextStore
import Dispatch
import Foundation
import Testing

/// "options.release is never called while the store holds a lock, so it may
/// re-enter the store." (options.retain may run under a slot's lock: a
/// reader must retain a value before a writer can free it.) Re-entering for
/// real would deadlock the test run if a lock were held, so each release
/// callback instead asks another thread to read through the slot and waits a
/// while: if that read cannot get in, the callback runs under the lock.
///
/// Owns: the lock contract of the callbacks, probed from Swift threads. The
/// C harness (`Tests/C/test_refcount.c`) re-enters the store for real.
@Suite("Callbacks")
struct CallbackTests {
    /// A read of a slot on another thread, started now.
    final class LockProbe: Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let finished = Locked(false)

        /// Starts a thread that reads `slot` (taking its lock) and reports back.
        init(_ slot: SendablePointer) {
            let done = self.done
            Thread {
                _ = ctxs_slot_find(slot.raw, 0, nil)
                done.signal()
            }.start()
        }

        /// Whether the read got through within `seconds`.
        func gotThrough(within seconds: Double = 5) -> Bool {
            let ok = done.wait(timeout: .now() + seconds) == .success
            if ok { finished.withLock { $0 = true } }
            return ok
        }

        /// Waits until the probe thread is done (it may be waiting on the lock).
        func waitForEnd() {
            if !finished.withLock({ $0 }) { done.wait() }
        }
    }

    /// Arms the tracker so that each callback for `value` probes `slots`.
    final class Prober: Sendable {
        private let results = Locked<[(String, Bool)]>([])
        private let probes = Locked<[LockProbe]>([])

        func arm(_ tracker: LifetimeTracker, value: UnsafeMutableRawPointer, slots: [SendablePointer]) {
            let target = value.bits
            tracker.setHooks(
                retain: { [self] v in if v.bits == target { probe("retain", slots) } },
                release: { [self] v in if v.bits == target { probe("release", slots) } }
            )
        }

        private func probe(_ kind: String, _ slots: [SendablePointer]) {
            for slot in slots {
                let p = LockProbe(slot)
                let ok = p.gotThrough()
                results.withLock { $0.append((kind, ok)) }
                probes.withLock { $0.append(p) }
            }
        }

        /// The callbacks seen so far, and whether every probe got through.
        func take(_ tracker: LifetimeTracker) -> (kinds: [String], allFree: Bool) {
            tracker.setHooks()
            for p in probes.withLock({ $0 }) { p.waitForEnd() }
            let seen = results.withLock { r in
                defer { r.removeAll() }
                return r
            }
            probes.withLock { $0.removeAll() }
            return (seen.map(\.0), seen.allSatisfy(\.1))
        }
    }

    @Test("replacing, removing, clearing and replacing release values outside the slot's lock")
    func releaseOnSlotWrites() throws {
        try withStore { s in
            let slot = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let operations: [(String, (UnsafeMutableRawPointer) -> Int32)] = [
                ("assoc over it", { _ in ctxs_slot_assoc(slot.raw, 1, s.value()) }),
                ("without", { _ in ctxs_slot_without(slot.raw, 1) }),
                ("clear", { _ in ctxs_slot_clear(slot.raw) }),
                ("replace", { _ in ctxs_slot_replace(slot.raw, s.emptyMap()) }),
            ]
            for (name, operation) in operations {
                // The value lives only in the slot, so the write frees its entry.
                let v = s.value()
                #expect(ctxs_slot_assoc(slot.raw, 1, v) == statusOK)
                let prober = Prober()
                prober.arm(s.tracker, value: v, slots: [slot])
                #expect(operation(v) == statusOK, "\(name)")
                let seen = prober.take(s.tracker)
                #expect(seen.kinds == ["release"], "\(name)")
                #expect(seen.allFree, "options.release ran under the slot's lock (\(name))")
            }
            ctxs_slot_release(slot.raw)
        }
    }

    @Test("a value's destructor may set a context in the slot that released it")
    func destructorSetsContext() throws {
        try withStore { s in
            let slot = SendablePointer(try #require(ctxs_slot_create(s.store, nil, nil)))
            let marker = s.value().bits
            final class Observation: Sendable {
                let lockWasFree = Locked<Bool?>(nil)
                let probes = Locked<[LockProbe]>([])
            }
            let seen = Observation()
            var dying: ReentrantValue? = ReentrantValue(tracker: s.tracker) {
                // Only re-enter for real when a probe got through: never deadlock the run.
                if seen.lockWasFree.withLock({ $0 }) == true {
                    _ = ctxs_slot_assoc(slot.raw, 99, pointer(bits: marker))
                }
            }
            let dyingBits = dying!.pointer.bits
            #expect(withExtendedLifetime(dying!) { ctxs_slot_assoc(slot.raw, 1, dying!.pointer) } == statusOK)
            dying = nil
            s.tracker.setHooks(release: { v in
                guard v.bits == dyingBits else { return }
                let probe = LockProbe(slot)
                let free = probe.gotThrough()
                seen.probes.withLock { $0.append(probe) }
                seen.lockWasFree.withLock { $0 = free }
            })
            #expect(ctxs_slot_assoc(slot.raw, 1, s.value()) == statusOK)  // frees the old entry
            s.tracker.setHooks()
            for probe in seen.probes.withLock({ $0 }) { probe.waitForEnd() }
            #expect(seen.lockWasFree.withLock { $0 } == true, "the release callback ran under the slot's lock")
            #expect(s.slotFind(slot.raw, 99)?.bits == marker)
            ctxs_slot_release(slot.raw)
        }
    }
}
