import CContextStore
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs `body` on a new POSIX thread and joins it, so the thread has fully
/// exited (its thread-specific destructors have run) when this returns.
func runOnExitingThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let argument = Unmanaged.passRetained(Box(body)).toOpaque()
    #if canImport(Darwin)
        var thread: pthread_t? = nil
    #else
        var thread = pthread_t()
    #endif
    let rc = pthread_create(
        &thread, nil,
        { argument in
            Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, argument)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    #if canImport(Darwin)
        pthread_join(thread!, nil)
    #else
        pthread_join(thread, nil)
    #endif
}

/// Each thread's own plain slot in a store.
@Suite("Thread slot")
struct ThreadSlotTests {
    @Test("one slot per thread: made on first use, the same afterwards, dropped on demand", arguments: Backend.allCases)
    func ownSlot(backend: Backend) throws {
        try withStore(backend: backend) { s in
            #expect(ctxs_thread_slot_peek(s.store) == nil, "a fresh store has no slot on this thread")
            let before = s.live
            let slot = try #require(ctxs_thread_slot(s.store))
            #expect(ctxs_thread_slot(s.store) == slot)
            #expect(ctxs_thread_slot_peek(s.store) == slot)
            #expect(ctxs_slot_depth(slot) == 0)
            #expect(ctxs_slot_parent(slot) == nil)
            #expect(s.live.slots == before.slots + 1)

            let v = s.value()
            #expect(ctxs_slot_assoc(slot, 1, v) == statusOK)
            #expect(s.slotFind(slot, 1) == v)
            #expect(ctxs_store_destroy(s.store) == statusEBUSY, "a thread's slot keeps the store busy")

            ctxs_thread_slot_drop(s.store)
            #expect(ctxs_thread_slot_peek(s.store) == nil)
            #expect(s.live == before)
            #expect(s.tracker.counts(of: v).releases == s.tracker.counts(of: v).retains)
            ctxs_thread_slot_drop(s.store)  // nothing left to drop

            // A later use makes a new, empty slot.
            let again = try #require(ctxs_thread_slot(s.store))
            #expect(ctxs_slot_find(again, 1, nil) == 0)
            ctxs_thread_slot_drop(s.store)
        }
    }

    @Test("threads have distinct slots, and a thread's exit releases its slot", arguments: Backend.allCases)
    func slotPerThread(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let mine = try #require(ctxs_thread_slot(s.store))
            let mineBits = UInt(bitPattern: Int(bitPattern: mine))
            #expect(ctxs_slot_assoc(mine, 1, s.value()) == statusOK)
            let before = s.live
            let log = ProblemLog()
            let values = s.values(4).map(\.bits)

            for t in 0..<4 {
                runOnExitingThread {
                    if ctxs_thread_slot_peek(s.store) != nil { log.record("thread \(t) starts with a slot") }
                    guard let theirs = ctxs_thread_slot(s.store) else { return log.record("thread \(t): no slot") }
                    if UInt(bitPattern: Int(bitPattern: theirs)) == mineBits {
                        log.record("thread \(t) shares the test thread's slot")
                    }
                    if ctxs_slot_find(theirs, 1, nil) != 0 { log.record("thread \(t) sees another thread's key") }
                    if ctxs_slot_assoc(theirs, 2, pointer(bits: values[t])) != statusOK { log.record("assoc") }
                    var out: UnsafeMutableRawPointer? = nil
                    if ctxs_slot_find(theirs, 2, &out) != 1 || out?.bits != values[t] { log.record("read back") }
                    if let out { s.releaseValue(out) }
                    // The thread exits without dropping: its pthread key destructor must.
                }
                #expect(s.live == before, "thread \(t)'s exit released its slot and its entries")
            }
            log.check("per-thread slots")
            #expect(ctxs_slot_find(mine, 2, nil) == 0)
            #expect(ctxs_slot_find(mine, 1, nil) == 1)
            // One retain for the entry, one for the read; both released by now.
            for v in values { #expect(s.tracker.counts(of: pointer(bits: v)) == .init(retains: 2, releases: 2)) }
            ctxs_thread_slot_drop(s.store)
        }
    }

    /// A release callback must not reach the thread's own slot: the value
    /// may be freed by code that does not own it (a task's teardown, a
    /// thread's exit), and what its destructor wrote there would outlive it
    /// on that thread.
    @Test("a release callback finds no thread slot and makes none", arguments: Backend.allCases)
    func hiddenDuringRelease(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let seen = Locked<[String]>([])
            s.tracker.setHooks(release: { _ in
                let peek = ctxs_thread_slot_peek(s.store) == nil ? "no slot" : "a slot"
                let made = ctxs_thread_slot(s.store) == nil ? "none made" : "one made"
                seen.withLock { $0.append("\(peek), \(made), in release \(ctxs_thread_in_release())") }
            })
            let mine = try #require(ctxs_thread_slot(s.store))
            let slot = try #require(ctxs_slot_create(s.store, nil, nil))
            #expect(ctxs_slot_assoc(slot, 1, s.value()) == statusOK)
            #expect(ctxs_slot_assoc(slot, 1, s.value()) == statusOK)  // frees the first entry
            #expect(seen.withLock { $0 } == ["no slot, none made, in release 1"])
            #expect(ctxs_thread_in_release() == 0)
            #expect(ctxs_thread_slot_peek(s.store) == mine, "visible again once the callback returned")

            // At a thread's exit, the destructor frees the slot's entries.
            seen.withLock { $0 = [] }
            let before = s.live
            let value = s.value().bits
            runOnExitingThread {
                _ = ctxs_slot_assoc(ctxs_thread_slot(s.store)!, 2, pointer(bits: value))
            }
            #expect(seen.withLock { $0 } == ["no slot, none made, in release 1"])
            #expect(s.live == before, "no new thread slot outlived the exit")
            s.tracker.setHooks()
            ctxs_slot_release(slot)
            ctxs_thread_slot_drop(s.store)
        }
    }

    @Test("ctxs_thread_slot at every allocation point", arguments: Backend.allCases)
    func allocationFailure(backend: Backend) throws {
        try withStore(backend: backend) { s in
            let k = AllocationFailureTests.measure(s) {
                _ = ctxs_thread_slot(s.store)
                ctxs_thread_slot_drop(s.store)
            }
            #expect(k >= 1)
            try AllocationFailureTests.failEachAllocation(s, "thread slot", allocations: k) {
                ctxs_thread_slot(s.store) == nil ? statusENOMEM : statusOK
            } unchanged: {
                #expect(ctxs_thread_slot_peek(s.store) == nil)
            }
            #expect(ctxs_thread_slot(s.store) != nil)
            ctxs_thread_slot_drop(s.store)
        }
    }
}
