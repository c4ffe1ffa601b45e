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
