import ContextStore
import ContextStoreTestSupport
import Testing

// Scope objects are reused: when a `run(inheriting: .copy)` or `run(with:)`
// scope ends and nothing else holds it, it is emptied and kept as the
// thread's spare for the next one (see `_Scope.recycle`). Reuse must be
// invisible: values go at once, nothing leaks from one scope into the next,
// and a scope that something still holds is never reused.

private let key = ContextKey<String>("reuse.key")
private let tracked = ContextKey<Tracked>("reuse.tracked")

extension ContextStoreTests {
    @Suite("Scope reuse", .exclusiveGlobalStore)
    struct ScopeReuseTests {
        @Test func aScopesValuesGoWhenItEndsAndItsSpareIsNotALiveScope() throws {
            let counter = DeinitCounter()
            TaskContext.run {}  // this thread now has a spare, if it had none
            _ = tracked.name  // interned now, not inside the measured part
            let before = TaskContext.statistics
            for round in 0..<3 {
                try TaskContext.run {
                    try TaskContext.set(tracked, Tracked("round \(round)", counter))
                    _ = TaskContext.current  // a memo, which must go too
                }
                #expect(counter.count == round + 1)
            }
            let after = TaskContext.statistics
            #expect(after.liveScopes == before.liveScopes)
            #expect(after.liveValues == before.liveValues)
            #expect(after.bytesInUse == before.bytesInUse)
            #expect(after.spareScopes >= 1)
        }

        @Test func nothingCarriesOverFromOneScopeToTheNext() throws {
            try TaskContext.run {
                try TaskContext.set(key, "outer")
                try TaskContext.run {
                    try TaskContext.set(key, "first")
                    try TaskContext.set(ContextKey<Int>("reuse.extra"), 1)
                }
                TaskContext.run {
                    #expect(TaskContext.get(key) == "outer")
                    #expect(TaskContext.get(ContextKey<Int>("reuse.extra")) == nil)
                    #expect(TaskContext.current.count == 1)
                }
                try TaskContext.run(with: TaskContext().setting(key, "given")) {
                    #expect(TaskContext.get(key) == "given")
                }
                TaskContext.run(with: TaskContext()) {
                    #expect(TaskContext.get(key) == nil)
                }
                #expect(TaskContext.get(key) == "outer")
            }
        }

        @Test func aScopeStillHeldByATaskIsNotReused() async throws {
            let release = Gate()
            // A sharing child and a plain `Task {}` (which copies the binding)
            // both hold the scope after `run` returns.
            let (sharer, plain) = try TaskContext.run { () throws -> (Task<String?, Never>, Task<String?, Never>) in
                try TaskContext.set(key, "held")
                let sharer = Task(inheriting: .share) { () -> String? in
                    await release.wait()
                    return TaskContext.get(key)
                }
                let plain = Task { () -> String? in
                    await release.wait()
                    return TaskContext.get(key)
                }
                return (sharer, plain)
            }
            // Scopes opened meanwhile must not take the held one over.
            for round in 0..<4 {
                try TaskContext.run { try TaskContext.set(key, "other \(round)") }
                try await TaskContext.run {
                    await Task.yield()
                    try TaskContext.set(key, "async \(round)")
                }
            }
            release.open()
            #expect(await sharer.value == "held")
            #expect(await plain.value == "held")
        }

        @Test func aScopeWithALiveChainedChildIsNotReused() async throws {
            let release = Gate()
            let child = try TaskContext.run { () throws -> Task<String?, Never> in
                try TaskContext.set(key, "parent")
                return Task(inheriting: .chain) { () -> String? in
                    await release.wait()
                    return TaskContext.get(key)
                }
            }
            for round in 0..<4 {
                try TaskContext.run { try TaskContext.set(key, "other \(round)") }
            }
            release.open()
            #expect(await child.value == "parent")
        }

        // A `run(inheriting: .copy)` inside a scope not written since it
        // opened borrows that scope's map (see `_Scope.copyForRun`). A copy
        // that outlives its body, and its lender, must own what it borrowed.
        @Test func aCopyThatOutlivesItsLenderKeepsItsContents() async throws {
            let counter = DeinitCounter()
            let release = Gate()
            let before = TaskContext.statistics
            let lender = try TaskContext().setting(tracked, Tracked("lent", counter)).setting(key, "lent")
            let (plain, chained, written) = TaskContext.run(with: lender) {
                // A copy ended here leaves this thread a spare, which the
                // next copy needs to borrow.
                TaskContext.run(inheriting: .copy) {}
                return TaskContext.run(inheriting: .copy) {
                    () -> (Task<String?, Never>, Task<String?, Never>, Task<String?, Never>) in
                    // Plain `Task {}` shares this scope; a chained child holds it.
                    let plain = Task { () -> String? in
                        await release.wait()
                        return TaskContext.get(tracked).map(\.label)
                    }
                    let chained = Task(inheriting: .chain) { () -> String? in
                        await release.wait()
                        try? TaskContext.set(key, "chained")
                        return TaskContext.get(tracked).map(\.label).map { $0 + " " + (TaskContext.get(key) ?? "-") }
                    }
                    let written = Task { () -> String? in
                        await release.wait()
                        try? TaskContext.set(key, "written after")  // the first write, after the lender ended
                        return TaskContext.get(key).map { $0 + " " + (TaskContext.get(tracked)?.label ?? "-") }
                    }
                    return (plain, chained, written)
                }
            }
            // The lender's scope and the context value are gone: only the
            // escaped copy keeps the value.
            _ = consume lender
            for round in 0..<4 { try TaskContext.run { try TaskContext.set(key, "other \(round)") } }
            #expect(counter.count == 0, "the copy still holds the value")
            release.open()
            #expect(await plain.value == "lent")
            #expect(await chained.value == "lent chained")
            #expect(await written.value == "written after lent")
            #expect(await eventually { counter.count == 1 }, "and lets it go when the last holder ends")
            #expect(await eventually { TaskContext.statistics.liveValues == before.liveValues })
        }

        @Test func aBorrowingCopyReadsWritesAndForksLikeAnyCopy() async throws {
            try await TaskContext.run(with: TaskContext().setting(key, "lender")) {
                TaskContext.run(inheriting: .copy) {}  // a spare, to borrow with
                try await TaskContext.run(inheriting: .copy) {
                    #expect(TaskContext.get(key) == "lender")
                    let snapshot = TaskContext.current
                    try TaskContext.set(key, "copy")
                    #expect(TaskContext.get(key) == "copy")
                    #expect(snapshot[key] == "lender")
                    let child = await Task(inheriting: .copy) { TaskContext.get(key) }.value
                    #expect(child == "copy")
                    TaskContext.run(inheriting: .copy) {  // a copy of a written scope: no borrowing
                        #expect(TaskContext.get(key) == "copy")
                    }
                }
                #expect(TaskContext.get(key) == "lender")
                // Nested borrowing copies, each ended in turn.
                try TaskContext.run(inheriting: .copy) {
                    try TaskContext.run(inheriting: .copy) {
                        try TaskContext.run(inheriting: .copy) {
                            #expect(TaskContext.get(key) == "lender")
                            try TaskContext.set(key, "deep")
                        }
                        #expect(TaskContext.get(key) == "lender")
                    }
                }
                #expect(TaskContext.get(key) == "lender")
            }
        }

        @Test func concurrentScopesOnSharedThreadsStayApart() async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for round in 0..<200 {
                            let mine = "\(worker).\(round)"
                            try await TaskContext.run {
                                try TaskContext.set(key, mine)
                                if round % 3 == 0 { await Task.yield() }
                                #expect(TaskContext.get(key) == mine)
                                try TaskContext.run {
                                    #expect(TaskContext.get(key) == mine)
                                    try TaskContext.set(key, mine + ".inner")
                                }
                                #expect(TaskContext.get(key) == mine)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
