import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Testing

@testable import ContextStore

// Allocation failure through the Swift API. With the C store's failure hook
// armed, each allocation point of a write fails in turn (the 1st, then the
// 2nd, ... until the write succeeds): every failing write throws
// `ContextError.allocationFailed`, leaves the context and the store's live
// figures as they were, and releases the value it was given. Once the hook
// is disarmed, the same scope still forks and writes normally.
//
// The hook belongs to the one global store, so these tests rely on the
// target running serially (see `ContextStoreTests`) and on holding the
// global store's lock (`.exclusiveGlobalStore`), which the logging and
// tracing suites of the other targets take too: while the hook is armed, no
// other test allocates from the store. (Without the lock, a logging test
// running beside them took the failing allocation under `make asan`.) The C
// API tests use stores of their own and are not disturbed.

private let prefix = "alloc."

private func key(_ name: String) -> ContextKey<Tracked> {
    ContextKey<Tracked>(prefix + name)
}

/// The store's failure hook: the `k`th allocation from now fails; 0 disarms it.
private func failAllocation(_ k: UInt64) {
    ctxs_store_fail_allocation(_Store.raw, k)
}

private var allocationCount: UInt64 {
    ctxs_store_allocation_count(_Store.raw)
}

/// Runs `write` with its 1st, 2nd, ... store allocation failing until a run
/// succeeds, and returns how many allocation points it failed at (0 if the
/// write allocates nothing). Each failing run must throw `.allocationFailed`,
/// leave the live figures as they were, and satisfy `unchanged`.
///
/// A write by a new name interns the name before it stores the value, and
/// names are kept for the life of the store: if the store fails after the
/// name was interned, the name stays (one more interned key, and its bytes)
/// while the context is unchanged, and the next run needs fewer allocations.
/// Otherwise the successful run must have made exactly as many allocations
/// as the points tested, so that none was skipped.
@discardableResult
private func failEachAllocation(
    of what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ write: () throws(ContextError) -> Void,
    unchanged: () -> Void
) -> UInt64 {
    let limit: UInt64 = 100
    let internedAtStart = TaskContext.statistics.internedKeys
    for k in UInt64(1)...limit {
        let interned = TaskContext.statistics.internedKeys
        var before = LiveFigures()
        let start = allocationCount
        failAllocation(k)
        let result = Result { () throws(ContextError) in try write() }
        failAllocation(0)
        let attempted = allocationCount - start
        switch result {
        case .success:
            if TaskContext.statistics.internedKeys == internedAtStart {
                #expect(
                    attempted == k - 1, "\(what): \(attempted) allocations, \(k - 1) tested",
                    sourceLocation: sourceLocation)
            } else {
                #expect(
                    attempted <= k - 1, "\(what): \(attempted) allocations, \(k - 1) tested",
                    sourceLocation: sourceLocation)
            }
            return k - 1
        case .failure(let error):
            #expect(error == .allocationFailed, "\(what): allocation \(k)", sourceLocation: sourceLocation)
            #expect(
                attempted >= k, "\(what): allocation \(k) was not the one that failed", sourceLocation: sourceLocation)
            let internedNow = TaskContext.statistics.internedKeys
            #expect(internedNow - internedAtStart <= 1, "\(what): allocation \(k) interned more than the one name")
            if internedNow != interned { before.bytesInUse = LiveFigures().bytesInUse }  // the name's bytes
            let after = LiveFigures()
            #expect(
                after == before, "\(what): allocation \(k): \(before) before, \(after) after",
                sourceLocation: sourceLocation)
            unchanged()
        }
    }
    Issue.record("\(what): still failing after \(limit) allocation points", sourceLocation: sourceLocation)
    return limit
}

/// The current context as name -> label, every entry included.
private func contents() -> [String: String] {
    var seen: [String: String] = [:]
    for (name, value) in TaskContext.current.entries {
        seen[name] = (value as? Tracked)?.label ?? "not a Tracked: \(value)"
    }
    return seen
}

/// Reads `expected` through typed keys, without taking a snapshot (a
/// snapshot would share the scope's map and change which path the next
/// write takes).
private func expectReads(
    _ expected: [String: String], absent: [String] = [], _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for (name, label) in expected {
        let seen = TaskContext.get(ContextKey<Tracked>(name))?.label
        #expect(seen == label, "\(what): \(name)", sourceLocation: sourceLocation)
    }
    for name in absent {
        #expect(TaskContext.get(ContextKey<Tracked>(name)) == nil, "\(what): \(name)", sourceLocation: sourceLocation)
    }
}

/// Sets `count` keys named `base.0`, `base.1`, ... and returns what was set.
private func fill(_ base: String, _ count: Int, _ counter: DeinitCounter) throws -> [String: String] {
    var expected: [String: String] = [:]
    for index in 0..<count {
        let name = "\(prefix)\(base).\(index)"
        try TaskContext.set(ContextKey<Tracked>(name), Tracked("\(base) \(index)", counter))
        expected[name] = "\(base) \(index)"
    }
    return expected
}

/// Fills the scope's pending entries (a plain scope keeps its first
/// `CTXS_SLOT_PENDING` new keys out of its map: see slot.c), so that the
/// next new key is written to the map. A snapshot first moves what is
/// pending into the map; the fillers then take every pending entry. Returns
/// what was set. Until something takes a snapshot of the scope, new keys go
/// to its map (`expectReads` checks without one).
private func fillPending(_ base: String, _ counter: DeinitCounter) throws -> [String: String] {
    _ = TaskContext.current
    return try fill("\(base).pending", Int(CTXS_SLOT_PENDING), counter)
}

/// Every kind of fork of the current scope sees `expected` exactly, and a
/// write in the fork lands where its mode says: in the parent for `.share`,
/// nowhere else for `.copy` and `.chain`.
private func expectForksWork(
    _ expected: [String: String], sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let forkKey = key("fork")
    let counter = DeinitCounter()
    let forkWrite: @Sendable (String) -> [String: String] = { label in
        let inherited = contents()
        do {
            try TaskContext.set(forkKey, Tracked(label, counter))
        } catch {
            Issue.record("a write in a fork threw \(error)", sourceLocation: sourceLocation)
        }
        #expect(TaskContext.get(forkKey)?.label == label, sourceLocation: sourceLocation)
        return inherited
    }
    for mode in allModes {
        func check(_ how: String, _ inherited: [String: String]) throws {
            let label = "\(how) \(mode)"
            #expect(inherited == expected, "\(label)", sourceLocation: sourceLocation)
            if mode == .share {
                #expect(TaskContext.get(forkKey)?.label == label, sourceLocation: sourceLocation)
                try TaskContext.remove(forkKey)
            } else {
                #expect(
                    TaskContext.get(forkKey) == nil, "\(label) wrote into its parent", sourceLocation: sourceLocation)
            }
        }
        try check("run", TaskContext.run(inheriting: mode) { forkWrite("run \(mode)") })
        try check(
            "async run",
            await TaskContext.run(inheriting: mode) { () async -> [String: String] in
                await Task.yield()
                return forkWrite("async run \(mode)")
            })
        try check("Task", await Task(inheriting: mode) { forkWrite("Task \(mode)") }.value)
        let grouped = await withTaskGroup(of: [String: String].self) { group in
            group.addTask(inheriting: mode) { forkWrite("addTask \(mode)") }
            return await group.next() ?? [:]
        }
        try check("addTask", grouped)
    }
    #expect(contents() == expected, sourceLocation: sourceLocation)
    #expect(
        await eventually { counter.count == 4 * allModes.count }, "every fork's value was released",
        sourceLocation: sourceLocation)
}

extension ContextStoreTests {
    @Suite("Allocation failure through the Swift API", .exclusiveGlobalStore)
    struct AllocationFailureTests {
        /// set, replace and remove in a plain scope, on a map only the scope
        /// holds (written in place) and on one a snapshot shares (copied).
        @Test(arguments: [0, 1, 40, 300])
        func writesInAPlainScope(existing: Int) async throws {
            let counter = DeinitCounter()
            let added = key("added")
            var made = existing
            var held = existing  // values the scope holds
            try await TaskContext.run {
                func value(_ label: String) -> Tracked {
                    made += 1
                    return Tracked(label, counter)
                }
                var expected = try fill("plain", existing, counter)

                // Kept pending (see slot.c): a new key allocates nothing.
                _ = TaskContext.current
                let pending = key("pending")
                let kept = failEachAllocation(of: "set a new key, kept pending") { () throws(ContextError) in
                    try TaskContext.set(pending, value("pending"))
                } unchanged: {
                    expectReads(expected, absent: [pending.name], "set a new key, kept pending")
                }
                #expect(kept == 0, "a pending write allocates nothing")
                expected[pending.name] = "pending"
                held += 1

                // In place: nothing else holds the scope's map.
                expected.merge(try fillPending("plain", counter)) { _, new in new }
                made += Int(CTXS_SLOT_PENDING)
                held += Int(CTXS_SLOT_PENDING)
                let points = failEachAllocation(of: "set a new key") { () throws(ContextError) in
                    try TaskContext.set(added, value("added"))
                } unchanged: {
                    expectReads(expected, absent: [added.name], "set a new key")
                    #expect(counter.count == made - held, "the value of a failed set was released")
                }
                #expect(points >= 1, "a new key needs at least its leaf")
                expected[added.name] = "added"

                if let name = expected.keys.sorted().first(where: { $0 != added.name }) {
                    failEachAllocation(of: "replace a key") { () throws(ContextError) in
                        try TaskContext.set(ContextKey<Tracked>(name), value("replacement"))
                    } unchanged: {
                        expectReads(expected, "replace a key")
                    }
                    expected[name] = "replacement"
                }
                expectReads(expected, "after a replace")
                failEachAllocation(of: "remove a key") { () throws(ContextError) in
                    try TaskContext.remove(added)
                } unchanged: {
                    expectReads(expected, "remove a key")
                }
                expected[added.name] = nil
                #expect(contents() == expected)

                // Copied: a snapshot shares the map, so every write to the map
                // copies a path.
                let snapshot = TaskContext.current
                expected.merge(try fill("plain.beside", Int(CTXS_SLOT_PENDING), counter)) { _, new in new }
                made += Int(CTXS_SLOT_PENDING)
                let copiedPoints = failEachAllocation(of: "set beside a snapshot") { () throws(ContextError) in
                    try TaskContext.set(added, value("again"))
                } unchanged: {
                    expectReads(expected, absent: [added.name], "set beside a snapshot")
                }
                #expect(copiedPoints >= 1, "a new key beside a snapshot copies a path")
                expected[added.name] = "again"
                failEachAllocation(of: "remove beside a snapshot") { () throws(ContextError) in
                    try TaskContext.remove(added)
                } unchanged: {
                    expectReads(expected, "remove beside a snapshot")
                }
                expected[added.name] = nil
                #expect(snapshot.count == expected.count - Int(CTXS_SLOT_PENDING))
                #expect(contents() == expected)
                try await expectForksWork(expected)
            }
            #expect(await eventually { counter.count == made }, "every value made was released")
        }

        /// A copied scope shares its parent's map until its first write; a
        /// chained scope writes its own layer, and a removal there writes a
        /// tombstone that hides the inherited key.
        @Test(arguments: [Inheritance.copy, .chain], [1, 40])
        func writesInAForkedScope(mode: Inheritance, existing: Int) async throws {
            let counter = DeinitCounter()
            let added = key("forked.added")
            try await TaskContext.run {
                let parent = try fill("forked", existing, counter)
                let inherited = ContextKey<Tracked>(try #require(parent.keys.sorted().first))
                try await TaskContext.run(inheriting: mode) {
                    var expected = parent
                    failEachAllocation(of: "set a new key in a \(mode) scope") { () throws(ContextError) in
                        try TaskContext.set(added, Tracked("added", counter))
                    } unchanged: {
                        expectReads(expected, absent: [added.name], "set a new key in a \(mode) scope")
                    }
                    expected[added.name] = "added"
                    failEachAllocation(of: "shadow an inherited key in a \(mode) scope") { () throws(ContextError) in
                        try TaskContext.set(inherited, Tracked("shadow", counter))
                    } unchanged: {
                        expectReads(expected, "shadow an inherited key in a \(mode) scope")
                    }
                    expected[inherited.name] = "shadow"
                    failEachAllocation(of: "remove an inherited key in a \(mode) scope") { () throws(ContextError) in
                        try TaskContext.remove(inherited)
                    } unchanged: {
                        expectReads(expected, "remove an inherited key in a \(mode) scope")
                    }
                    expected[inherited.name] = nil
                    #expect(contents() == expected)
                    try await expectForksWork(expected)
                }
                #expect(contents() == parent, "the parent is untouched")
            }
        }

        /// A write by a name no code has used yet interns the name first;
        /// either step may fail, and a failed intern interns nothing.
        @Test func writesByNewNames() async throws {
            let counter = DeinitCounter()
            try await TaskContext.run {
                var expected = try fill("names", 3, counter)
                expected.merge(try fillPending("names", counter)) { _, new in new }
                // The interner's tables double when the name count reaches a
                // power of two; reach one so that the first write below
                // grows them.
                var filler = 0
                var interned = TaskContext.statistics.internedKeys
                while interned < 64 || interned & (interned - 1) != 0 {
                    _ = ContextKey<Int>("\(prefix)filler.\(UInt64.random(in: 0...UInt64.max)).\(filler)")
                    filler += 1
                    interned = TaskContext.statistics.internedKeys
                }
                for round in 0..<3 {
                    let name = "\(prefix)new-name.\(round).\(UInt64.random(in: 0...UInt64.max))"
                    let points = failEachAllocation(of: "set by a new name") { () throws(ContextError) in
                        try TaskContext.set(name, Tracked(name, counter))
                    } unchanged: {
                        expectReads(expected, "set by a new name")
                        #expect(TaskContext.get(name) == nil)
                    }
                    #expect(points >= 2, "interning the name and storing the value both allocate")
                    expected[name] = name
                }
                #expect(contents() == expected)
                try await expectForksWork(expected)
            }
        }

        /// A key made while the store cannot allocate gets no id; it interns
        /// its name on first write instead, and works from then on.
        @Test func aKeyMadeWhileAllocationFailsWorksLater() throws {
            let name = "\(prefix)late-key.\(UInt64.random(in: 0...UInt64.max))"
            failAllocation(1)
            let late = ContextKey<Int>(name)
            failAllocation(0)
            #expect(late._id == 0, "interning failed, so the key has no id yet")
            try TaskContext.run {
                #expect(TaskContext.get(late) == nil)
                try TaskContext.set(late, 7)
                #expect(TaskContext.get(late) == 7)
                #expect(TaskContext.get(ContextKey<Int>(name)) == 7)
                #expect(TaskContext.get(name) as? Int == 7)
            }
        }

        /// The value API: `setting` and `removing` throw, and the context
        /// they were called on is unchanged.
        @Test(arguments: [0, 1, 40, 300])
        func settingAndRemovingOnAValue(existing: Int) throws {
            let counter = DeinitCounter()
            let keys = (0..<existing).map { key("value.\($0)") }
            let added = key("value.added")
            var built = TaskContext()
            for (index, key) in keys.enumerated() {
                built = try built.setting(key, Tracked("\(index)", counter))
            }
            let context = built
            let expectOriginal = {
                #expect(context.count == existing)
                for (index, key) in keys.enumerated() { #expect(context[key]?.label == "\(index)") }
                #expect(context[added] == nil)
            }
            var result: TaskContext?
            failEachAllocation(of: "setting a typed key") { () throws(ContextError) in
                result = try context.setting(added, Tracked("added", counter))
            } unchanged: {
                expectOriginal()
                #expect(result == nil)
            }
            #expect(result?.count == existing + 1)
            #expect(result?[added]?.label == "added")

            result = nil
            let name = "\(prefix)value.by-name.\(UInt64.random(in: 0...UInt64.max))"
            failEachAllocation(of: "setting by a new name") { () throws(ContextError) in
                result = try context.setting(name, Tracked("by name", counter))
            } unchanged: {
                expectOriginal()
                #expect(result == nil)
            }
            #expect((result?[name] as? Tracked)?.label == "by name")

            if let first = keys.first {
                result = nil
                failEachAllocation(of: "removing") { () throws(ContextError) in
                    result = try context.removing(first)
                } unchanged: {
                    expectOriginal()
                    #expect(result == nil)
                }
                #expect(result?.count == existing - 1)
                #expect(result?[first] == nil)
            }
            expectOriginal()
        }

        /// `clear` and the removal of a key the scope does not hold allocate
        /// nothing, so they cannot fail.
        @Test func clearAndRemovingAnAbsentKeyNeverFail() throws {
            let counter = DeinitCounter()
            let absent = key("never-set")
            try TaskContext.run {
                _ = try fill("clear", 10, counter)
                let start = allocationCount
                failAllocation(1)
                let removed = contextError { try TaskContext.remove(absent) }
                let cleared = contextError { try TaskContext.clear() }
                failAllocation(0)
                #expect(removed == nil)
                #expect(cleared == nil)
                #expect(allocationCount == start, "neither allocated")
                #expect(TaskContext.current.isEmpty)
            }
            #expect(counter.count == 10)
        }

        /// Reads never fail: a chained read that would rebuild its merged
        /// view and cannot allocate walks the layers instead. Each round
        /// reads through a fresh chained scope, which rebuilds its view
        /// after some reads, with the 1st, 2nd, ... allocation failing,
        /// until a rebuild succeeds.
        @Test func readsNeverFail() throws {
            let counter = DeinitCounter()
            try TaskContext.run {
                let parent = try fill("reads", 20, counter)
                try TaskContext.run(inheriting: .chain) {
                    let expected = parent.merging(try fill("reads.own", 3, counter)) { $1 }
                    let keys = expected.keys.sorted().map { ContextKey<Tracked>($0) }
                    var rounds: UInt64 = 0
                    for k in UInt64(1)...100 {
                        let (wrong, attempted) = TaskContext.run(inheriting: .chain) { () -> (Int, UInt64) in
                            let start = allocationCount
                            failAllocation(k)
                            var wrong = 0
                            for _ in 0..<4 {
                                for key in keys where TaskContext.get(key)?.label != expected[key.name] { wrong += 1 }
                            }
                            failAllocation(0)
                            return (wrong, allocationCount - start)
                        }
                        #expect(wrong == 0, "allocation \(k) failing")
                        rounds = k
                        if attempted < k { break }  // the rebuild made fewer allocations: it succeeded
                    }
                    #expect(rounds > 1, "a rebuild was attempted and failed at least once")
                    #expect(contents() == expected)
                }
            }
        }

        /// Off any task, the first write makes the thread's own context; if
        /// that allocation fails, the write throws, nothing is stored, and a
        /// later write works.
        @Test func aThreadsFirstWrite() async throws {
            let value = ContextKey<Int>("\(prefix)thread")
            let outcomes = await onPlainThread { () -> [String] in
                var outcomes: [String] = []
                for k in UInt64(1)...10 {
                    failAllocation(k)
                    let error = contextError { try TaskContext.set(value, Int(k)) }
                    failAllocation(0)
                    let seen = TaskContext.get(value)
                    outcomes.append("\(error.map { "\($0)" } ?? "ok") \(seen.map(String.init) ?? "nil")")
                    if error == nil { break }
                }
                return outcomes
            }
            let failure = "\(ContextError.allocationFailed) nil"
            #expect(outcomes.count >= 2, "the first write allocates: \(outcomes)")
            #expect(outcomes.dropLast().allSatisfy { $0 == failure }, "\(outcomes)")
            #expect(outcomes.last == "ok \(outcomes.count)")
        }

        // Scope creation cannot throw (`run` is `rethrows`, and
        // `Task(inheriting:)` is not throwing), so an allocation failure there
        // stops the process with a message, as any failed Swift allocation
        // does. These exit tests pin that down: a clear trap, not a crash.

        @Test func openingAScopeTrapsWithAMessage() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                ctxs_store_fail_allocation(_Store.raw, 1)
                TaskContext.run(inheriting: .copy) {}
            }
            let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            #expect(message.contains("ContextStore: out of memory while opening a context scope"), "\(message)")
        }

        @Test func theSubscriptSetterTrapsWithAMessage() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                let value = ContextKey<Int>("alloc.exit.subscript")
                var context = TaskContext()
                ctxs_store_fail_allocation(_Store.raw, 1)
                context[value] = 1
            }
            let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            #expect(message.contains("ContextStore: \(ContextError.allocationFailed)"), "\(message)")
        }

        @Test func mergingAChainForCurrentTrapsWithAMessage() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                let value = ContextKey<Int>("alloc.exit.chain")
                try TaskContext.run {
                    try TaskContext.set(value, 1)
                    try TaskContext.run(inheriting: .chain) {
                        try TaskContext.set(value, 2)
                        ctxs_store_fail_allocation(_Store.raw, 1)
                        _ = TaskContext.current
                    }
                }
            }
            let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            #expect(message.contains("ContextStore: out of memory while merging a chained context"), "\(message)")
        }
    }
}
