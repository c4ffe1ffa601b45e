import ContextStore
import ContextStoreTestSupport
import Testing

// Values are released: a value whose scope has ended, and which no snapshot
// holds, is deinitialised; and `TaskContext.statistics` returns to its
// starting figures.
//
// Most tests watch their own values' `deinit` (see `Tracked`). The tests
// that compare `TaskContext.statistics` rely on the whole target running
// serially (see `ContextStoreTests`): nothing else touches the global store
// while they run, so every figure they compare is their own, compared exactly.
// Tests of other targets run in the same process, so this suite also holds
// `GlobalStoreLock`, which every suite of the integration targets holds too.

private let held = ContextKey<Tracked>("lifetime.held")
private let other = ContextKey<Tracked>("lifetime.other")
private let text = ContextKey<String>("lifetime.text")

extension ContextStoreTests {
    @Suite("Lifetimes and statistics", .exclusiveGlobalStore)
    struct LifetimeTests {
        // MARK: Scopes release their values

        @Test func aValueIsReleasedWhenItsScopeEnds() async throws {
            let counter = DeinitCounter()
            try TaskContext.run {
                try TaskContext.set(held, Tracked("sync", counter))
                #expect(counter.count == 0)
            }
            #expect(counter.count == 1)

            try await TaskContext.run {
                try TaskContext.set(held, Tracked("async", counter))
                await Task.yield()
                #expect(counter.count == 1)
            }
            #expect(counter.count == 2)

            try TaskContext.run(with: TaskContext()) {
                try TaskContext.set(held, Tracked("with", counter))
            }
            #expect(counter.count == 3)
        }

        @Test func replacedRemovedAndClearedValuesAreReleasedAtOnce() throws {
            let counter = DeinitCounter()
            try TaskContext.run {
                try TaskContext.set(held, Tracked("first", counter))
                try TaskContext.set(held, Tracked("second", counter))
                #expect(counter.count == 1, "replacing released the first value")
                try TaskContext.remove(held)
                #expect(counter.count == 2, "remove released the second value")
                try TaskContext.set(held, Tracked("third", counter))
                try TaskContext.set(other, Tracked("fourth", counter))
                try TaskContext.clear()
                #expect(counter.count == 4, "clear released both values")
            }
        }

        @Test func aSnapshotKeepsItsValuesAliveUntilDropped() throws {
            let counter = DeinitCounter()
            var snapshot: TaskContext? = try TaskContext.run { () throws -> TaskContext in
                try TaskContext.set(held, Tracked("kept", counter))
                let snapshot = TaskContext.current
                try TaskContext.set(held, Tracked("replaced", counter))
                #expect(counter.count == 0, "the snapshot holds the first value")
                return snapshot
            }
            #expect(counter.count == 1, "the scope's own value went with the scope")
            #expect(snapshot?[held]?.label == "kept")

            var derived = snapshot
            derived?[text] = "more"
            snapshot = nil
            #expect(counter.count == 1, "a context derived from the snapshot shares its value")
            derived = nil
            #expect(counter.count == 2)
            _ = derived
        }

        @Test func aValueSharedByAParentAndACopiedChildLivesUntilBothAreDone() async throws {
            let counter = DeinitCounter()
            let parentDone = Gate()
            let child = try TaskContext.run { () throws -> Task<String?, Never> in
                try TaskContext.set(held, Tracked("shared", counter))
                return Task(inheriting: .copy) {
                    await parentDone.wait()
                    return TaskContext.get(held)?.label
                }
            }
            #expect(counter.count == 0, "the child's copy still holds the value")
            parentDone.open()
            #expect(await child.value == "shared")
            #expect(await eventually { counter.count == 1 }, "released once the child's scope ended")
        }

        @Test func aChildsOwnValuesAreReleasedWithItsScope() async throws {
            let counter = DeinitCounter()
            try await TaskContext.run {
                for mode in allModes where mode != .share {
                    await Task(inheriting: mode) { try? TaskContext.set(held, Tracked("\(mode)", counter)) }.value
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask(inheriting: .copy) { try? TaskContext.set(held, Tracked("group copy", counter)) }
                    group.addTask(inheriting: .chain) { try? TaskContext.set(held, Tracked("group chain", counter)) }
                }
                #expect(await eventually { counter.count == 4 })
                #expect(TaskContext.get(held) == nil)

                // A shared child's value is the parent's, and stays.
                await Task(inheriting: .share) { try? TaskContext.set(held, Tracked("share", counter)) }.value
                #expect(TaskContext.get(held)?.label == "share")
                try TaskContext.set(text, "keep the scope busy")
                #expect(counter.count == 4)
            }
            #expect(counter.count == 5)
        }

        @Test func aChainedChildKeepsItsParentsValuesAliveUntilItEnds() async throws {
            let counter = DeinitCounter()
            let parentEnded = Gate()
            let child = try TaskContext.run { () throws -> Task<String?, Never> in
                try TaskContext.set(held, Tracked("parent", counter))
                return Task(inheriting: .chain) {
                    await parentEnded.wait()
                    return TaskContext.get(held)?.label
                }
            }
            #expect(counter.count == 0)
            parentEnded.open()
            #expect(await child.value == "parent")
            #expect(await eventually { counter.count == 1 })
        }

        @Test func aDetachedTaskHoldingASnapshotKeepsTheValue() async throws {
            let counter = DeinitCounter()
            let release = Gate()
            let task = try TaskContext.run { () throws -> Task<String?, Never> in
                try TaskContext.set(held, Tracked("snap", counter))
                let snapshot = TaskContext.current
                return Task.detached {
                    await release.wait()
                    return snapshot[held]?.label
                }
            }
            #expect(counter.count == 0)
            release.open()
            #expect(await task.value == "snap")
            #expect(await eventually { counter.count == 1 })
        }

        // MARK: Statistics

        @Test func statisticsReturnToTheirStartingFigures() async throws {
            let counter = DeinitCounter()
            // Intern every name first: names live as long as the store, and
            // take memory from it.
            let keys = (0..<8).map { ContextKey<Tracked>("lifetime.stats.\($0)") }
            _ = TaskContext().isEmpty
            let start = LiveFigures()

            try await TaskContext.run {
                for (index, key) in keys.enumerated() {
                    try TaskContext.set(key, Tracked("\(index)", counter))
                }
                let snapshot = TaskContext.current
                try TaskContext.set(keys[0], Tracked("replaced", counter))

                await withTaskGroup(of: Void.self) { group in
                    for mode in allModes {
                        group.addTask(inheriting: mode) {
                            try? TaskContext.set(keys[1], Tracked("child \(mode)", counter))
                            try? TaskContext.remove(keys[2])
                            await Task.yield()
                        }
                    }
                    group.addTask {
                        try? await TaskContext.run(inheriting: .chain) {
                            try TaskContext.clear()
                            try TaskContext.set(keys[3], Tracked("cleared chain", counter))
                            await Task.yield()
                        }
                    }
                }
                _ = await Task(inheriting: .copy) { TaskContext.current }.value.count
                try TaskContext.run(with: snapshot) {
                    try TaskContext.set(keys[4], Tracked("run with", counter))
                }
                #expect(LiveFigures() != start, "the scope and its values are live")
            }

            let returned = await eventually { LiveFigures() == start }
            #expect(returned, "started at \(start), now \(LiveFigures())")
            #expect(counter.count == 14, "every value made was released")
        }

        @Test func aScopeAndItsValuesAreCountedExactly() throws {
            let keys = (0..<3).map { ContextKey<String>("lifetime.exact.\($0)") }
            _ = TaskContext().isEmpty
            let start = LiveFigures()
            try TaskContext.run {
                #expect(LiveFigures().scopes == start.scopes + 1, "one scope is open")
                for (index, key) in keys.enumerated() {
                    try TaskContext.set(key, "value \(index)")
                    #expect(LiveFigures().values == start.values + index + 1, "one value per key set")
                }
                try TaskContext.set(keys[0], "replaced")
                #expect(LiveFigures().values == start.values + keys.count, "a replaced value is not kept")

                // The first snapshot moves the scope's pending writes (see
                // slot.c) into a map: the same values, in one map of one node.
                let pending = LiveFigures()
                let snapshot = TaskContext.current
                let before = LiveFigures()
                #expect(before.values == pending.values)
                #expect(before.roots == pending.roots + 1 && before.nodes == pending.nodes + 1)
                // Any later one is a new reference to that map: it adds no
                // map, node or value, and no memory.
                let again = TaskContext.current
                #expect(LiveFigures() == before)
                #expect(again.count == snapshot.count)

                // A copied scope starts from the same map: one scope more, no map, node or value more.
                TaskContext.run(inheriting: .copy) {
                    let figures = LiveFigures()
                    #expect(figures.scopes == before.scopes + 1)
                    #expect(figures.roots == before.roots)
                    #expect(figures.nodes == before.nodes)
                    #expect(figures.values == before.values)
                }
                #expect(LiveFigures() == before)
                #expect(snapshot.count == keys.count)
            }
            #expect(LiveFigures() == start)
        }

        @Test func aDroppedSnapshotReleasesWhatOnlyItHeld() throws {
            let keys = (0..<4).map { ContextKey<String>("lifetime.snapshot.\($0)") }
            _ = TaskContext().isEmpty
            let start = LiveFigures()
            var snapshot: TaskContext? = try TaskContext.run { () throws -> TaskContext in
                for (index, key) in keys.enumerated() { try TaskContext.set(key, "\(index)") }
                return TaskContext.current
            }
            #expect(LiveFigures().scopes == start.scopes, "the scope ended")
            #expect(LiveFigures().values == start.values + keys.count, "the snapshot holds every value")
            #expect(snapshot?.count == keys.count)
            snapshot = nil
            #expect(LiveFigures() == start)
            _ = snapshot
        }
    }
}
