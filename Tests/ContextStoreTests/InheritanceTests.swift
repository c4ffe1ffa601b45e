import ContextStore
import Testing

// The three inheritance modes, through `TaskContext.run(inheriting:)` (sync
// and async) and `Task(inheriting:)`: what parent, child and siblings see
// before and after the fork.

private let a = ContextKey<String>("inherit.a")
private let b = ContextKey<String>("inherit.b")
private let c = ContextKey<String>("inherit.c")
private let d = ContextKey<String>("inherit.d")

extension ContextStoreTests {
    @Suite("Inheritance modes")
    struct InheritanceTests {
        // MARK: Task(inheriting:) forks when the task is created
        //
        // An unstructured task cannot be held back from starting (it does not
        // inherit a task executor preference), so whether it starts before or
        // after the parent's next write is a race. Each probe therefore runs
        // many times; a scope made when the task first runs, rather than when
        // it is created, would show the later write in some of them.

        private static let rounds = 25

        @Test(arguments: allModes)
        func taskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            for round in 0..<Self.rounds {
                let seen = try await probeFork(mode) { mode, child, afterCreation in
                    let task = Task(inheriting: mode) { await child() }
                    afterCreation()
                    await task.value
                }
                #expect(seen == .expected(for: mode), "round \(round)")
            }
        }

        @Test(arguments: allModes)
        func throwingTaskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            for round in 0..<Self.rounds {
                let seen = try await probeFork(mode) { mode, child, afterCreation in
                    let task = Task(inheriting: mode) { () async throws -> Void in
                        await child()
                        try Task.checkCancellation()
                    }
                    afterCreation()
                    try await task.value
                }
                #expect(seen == .expected(for: mode), "round \(round)")
            }
        }

        /// The priority reaches the task as it does through the plain `Task(priority:)`.
        @Test func taskInheritingPassesThePriorityOn() async throws {
            let priorities = try await TaskContext.run { () async throws -> [TaskPriority] in
                try TaskContext.set(a, "x")
                let forked = await Task(inheriting: .copy, priority: .high) { Task.currentPriority }.value
                let plain = await Task(priority: .high) { Task.currentPriority }.value
                return [forked, plain]
            }
            // (A lower priority is not compared: awaiting the task may escalate it, racily.)
            #expect(priorities[0] == priorities[1])
        }

        @Test func aThrowingTaskInheritingRethrowsItsError() async throws {
            struct Boom: Error {}
            try await TaskContext.run {
                try TaskContext.set(a, "x")
                let task = Task(inheriting: .chain) { () async throws -> String in
                    #expect(TaskContext.get(a) == "x")
                    throw Boom()
                }
                await #expect(throws: Boom.self) { try await task.value }
            }
        }

        // MARK: Siblings

        @Test(arguments: allModes)
        func siblingsSeeEachOtherOnlyWhenSharing(_ mode: Inheritance) async throws {
            // A writes, then B reads and writes, then A reads again.
            let aWrote = Gate()
            let bWrote = Gate()
            let seen = try await TaskContext.run { () async throws -> [String?] in
                try TaskContext.set(a, "parent")
                let first = Task(inheriting: mode) { () async throws -> String? in
                    try TaskContext.set(b, "A")
                    aWrote.open()
                    await bWrote.wait()
                    return TaskContext.get(b)
                }
                let second = Task(inheriting: mode) { () async throws -> String? in
                    await aWrote.wait()
                    let fromA = TaskContext.get(b)
                    try TaskContext.set(b, "B")
                    bWrote.open()
                    return fromA
                }
                let bSawA = try await second.value
                let aSawAfterB = try await first.value
                return [bSawA, aSawAfterB, TaskContext.get(b), TaskContext.get(a)]
            }
            switch mode {
            case .copy, .chain:
                // Each sibling has a context of its own; the parent saw neither write.
                #expect(seen == [nil, "A", nil, "parent"])
            case .share:
                // One context for all three.
                #expect(seen == ["A", "B", "B", "parent"])
            }
        }

        // MARK: TaskContext.run(inheriting:)

        @Test func runCopyIsIsolatedBothWays() throws {
            try TaskContext.run {
                try TaskContext.set(a, "outer")
                try TaskContext.set(b, "outer")
                try TaskContext.run(inheriting: .copy) {
                    #expect(TaskContext.get(a) == "outer")
                    try TaskContext.set(a, "inner")
                    try TaskContext.remove(b)
                    try TaskContext.set(c, "inner")
                    #expect(TaskContext.get(a) == "inner")
                    #expect(TaskContext.get(b) == nil)
                }
                #expect(TaskContext.get(a) == "outer")
                #expect(TaskContext.get(b) == "outer")
                #expect(TaskContext.get(c) == nil)

                try TaskContext.run(inheriting: .copy) {
                    try TaskContext.clear()
                    #expect(TaskContext.current.isEmpty)
                }
                #expect(TaskContext.current.names == ["inherit.a", "inherit.b"])
            }
        }

        @Test func runIsCopyByDefault() throws {
            try TaskContext.run {
                try TaskContext.set(a, "outer")
                try TaskContext.run {
                    #expect(TaskContext.get(a) == "outer")
                    try TaskContext.set(a, "inner")
                }
                #expect(TaskContext.get(a) == "outer")
            }
        }

        @Test func runShareWritesFlowBothWays() throws {
            try TaskContext.run {
                try TaskContext.set(a, "outer")
                try TaskContext.set(b, "outer")
                try TaskContext.run(inheriting: .share) {
                    #expect(TaskContext.get(a) == "outer")
                    try TaskContext.set(a, "inner")
                    try TaskContext.remove(b)
                    try TaskContext.set(c, "inner")
                }
                #expect(TaskContext.get(a) == "inner")
                #expect(TaskContext.get(b) == nil)
                #expect(TaskContext.get(c) == "inner")

                try TaskContext.run(inheriting: .share) { try TaskContext.clear() }
                #expect(TaskContext.current.isEmpty)
            }
        }

        @Test func runChainReadsThroughAndKeepsItsWrites() throws {
            try TaskContext.run {
                try TaskContext.set(a, "outer")
                try TaskContext.set(b, "outer")
                try TaskContext.run(inheriting: .chain) {
                    #expect(TaskContext.get(a) == "outer")
                    try TaskContext.set(a, "inner")
                    try TaskContext.set(c, "inner")
                    #expect(TaskContext.get(a) == "inner")
                    #expect(TaskContext.get(b) == "outer")
                    #expect(TaskContext.get(c) == "inner")
                }
                #expect(TaskContext.get(a) == "outer")
                #expect(TaskContext.get(b) == "outer")
                #expect(TaskContext.get(c) == nil)
            }
        }

        /// The enclosing scope changes while the inner scope runs: a plain
        /// `Task { }` shares the enclosing scope and writes to it then.
        @Test(arguments: allModes)
        func asyncRunSeesLaterEnclosingWritesUnlessItCopied(_ mode: Inheritance) async throws {
            let seen = try await TaskContext.run { () async throws -> [String?] in
                try TaskContext.set(a, "before")
                let go = Gate()
                let writer = Task {
                    await go.wait()
                    try TaskContext.set(a, "after")
                }
                let inner = try await TaskContext.run(inheriting: mode) { () async throws -> String? in
                    go.open()
                    try await writer.value
                    try TaskContext.set(c, "inner")
                    return TaskContext.get(a)
                }
                return [inner, TaskContext.get(a), TaskContext.get(c)]
            }
            switch mode {
            case .copy: #expect(seen == ["before", "after", nil])
            case .chain: #expect(seen == ["after", "after", nil])
            case .share: #expect(seen == ["after", "after", "inner"])
            }
        }

        // MARK: No enclosing scope

        @Test(arguments: allModes)
        func withNoEnclosingScopeEveryModeStartsEmptyAndWritable(_ mode: Inheritance) async throws {
            let viaRun = try TaskContext.run(inheriting: mode) { () throws -> [String?] in
                let before = TaskContext.get(a)
                try TaskContext.set(a, "run")
                return [before, TaskContext.get(a)]
            }
            #expect(viaRun == [nil, "run"])

            let viaAsyncRun = try await TaskContext.run(inheriting: mode) { () async throws -> [String?] in
                let before = TaskContext.get(a)
                try TaskContext.set(a, "async")
                await Task.yield()
                return [before, TaskContext.get(a)]
            }
            #expect(viaAsyncRun == [nil, "async"])

            let viaTask = try await Task(inheriting: mode) { () async throws -> [String?] in
                let before = TaskContext.get(a)
                try TaskContext.set(a, "task")
                return [before, TaskContext.get(a)]
            }.value
            #expect(viaTask == [nil, "task"])

            // Each of those scopes ended with its run or task.
            #expect(TaskContext.get(a) == nil)
            #expect(throws: ContextError.noScope(key: "inherit.a")) { try TaskContext.set(a, "x") }
        }

        // MARK: Chains in depth

        @Test func aChainedChildReadsTheLiveParentUnlessItShadowedTheKey() async throws {
            let seen = try await TaskContext.run { () async throws -> [String?] in
                try TaskContext.set(a, "p1")
                try TaskContext.set(b, "p1")
                let parentWrote = Gate()
                let child = Task(inheriting: .chain) { () async throws -> [String?] in
                    try TaskContext.set(a, "child")  // shadows the parent's a
                    await parentWrote.wait()
                    return [TaskContext.get(a), TaskContext.get(b), TaskContext.get(d)]
                }
                try TaskContext.set(a, "p2")
                try TaskContext.set(b, "p2")
                try TaskContext.set(d, "p2")
                parentWrote.open()
                return try await child.value + [TaskContext.get(a)]
            }
            #expect(seen == ["child", "p2", "p2", "p2"])
        }

        @Test func removeInAChainHidesTheInheritedKey() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                try TaskContext.set(b, "parent")
                let removed = Gate()
                let parentWrote = Gate()
                let child = Task(inheriting: .chain) { () async throws -> [String?] in
                    try TaskContext.remove(a)
                    let afterRemove = TaskContext.get(a)
                    removed.open()
                    await parentWrote.wait()
                    let afterParentWrite = TaskContext.get(a)  // still hidden
                    let names = TaskContext.current.names
                    try TaskContext.set(a, "child")
                    return [afterRemove, afterParentWrite, TaskContext.get(a), TaskContext.get(b)]
                        + (names as [String?])
                }
                await removed.wait()
                #expect(TaskContext.get(a) == "parent", "the child's remove stays in the child")
                try TaskContext.set(a, "parent-2")
                parentWrote.open()
                let seen = try await child.value
                #expect(seen == [nil, nil, "child", "parent", "inherit.b"])
                #expect(TaskContext.get(a) == "parent-2")
            }
        }

        @Test func clearInAChainHidesEveryInheritedKey() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                try TaskContext.set(b, "parent")
                let cleared = Gate()
                let parentWrote = Gate()
                let child = Task(inheriting: .chain) { () async throws -> [[String?]] in
                    try TaskContext.set(c, "child-before-clear")
                    try TaskContext.clear()
                    let afterClear = [TaskContext.get(a), TaskContext.get(b), TaskContext.get(c)]
                    let emptyAfterClear = TaskContext.current.isEmpty
                    cleared.open()
                    await parentWrote.wait()
                    // Neither the parent's updates nor its new keys show through.
                    let afterParentWrite = [TaskContext.get(a), TaskContext.get(d)]
                    try TaskContext.set(c, "child")
                    let later = [TaskContext.get(a), TaskContext.get(c)]
                    return [
                        afterClear, [emptyAfterClear ? "empty" : "not empty"], afterParentWrite, later,
                        TaskContext.current.names,
                    ]
                }
                await cleared.wait()
                #expect(TaskContext.get(a) == "parent", "the child's clear stays in the child")
                #expect(TaskContext.get(b) == "parent")
                try TaskContext.set(a, "parent-2")
                try TaskContext.set(d, "parent-2")
                parentWrote.open()
                let seen = try await child.value
                #expect(seen == [[nil, nil, nil], ["empty"], [nil, nil], [nil, "child"], ["inherit.c"]])
                #expect(TaskContext.get(c) == nil)
                #expect(TaskContext.current.names == ["inherit.a", "inherit.b", "inherit.d"])
            }
        }

        @Test func aChainOfChainsReadsThroughEveryLayer() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "root")
                let grandchildReady = Gate()
                let rootWrote = Gate()
                let child = Task(inheriting: .chain) { () async throws -> [String?] in
                    try TaskContext.set(b, "child")
                    let grandchild = Task(inheriting: .chain) { () async throws -> [String?] in
                        grandchildReady.open()
                        await rootWrote.wait()
                        let seen = [TaskContext.get(a), TaskContext.get(b), TaskContext.get(d)]
                        try TaskContext.set(c, "grandchild")
                        return seen
                    }
                    let seen = try await grandchild.value
                    return seen + [TaskContext.get(c)]
                }
                await grandchildReady.wait()
                try TaskContext.set(a, "root-2")
                try TaskContext.set(d, "root-2")
                rootWrote.open()
                #expect(try await child.value == ["root-2", "child", "root-2", nil])
                #expect(TaskContext.get(b) == nil)
                #expect(TaskContext.get(c) == nil)
            }
        }

        @Test func currentInAChainIsTheMergedView() throws {
            try TaskContext.run {
                try TaskContext.set(a, "1")
                try TaskContext.set(b, "2")
                try TaskContext.run(inheriting: .chain) {
                    try TaskContext.set(b, "20")
                    try TaskContext.set(c, "3")
                    try TaskContext.remove(a)
                    let merged = TaskContext.current
                    #expect(merged.names == ["inherit.b", "inherit.c"])
                    #expect(merged[b] == "20")
                    #expect(merged[c] == "3")
                    #expect(merged[a] == nil)
                    #expect(merged.count == 2)
                }
            }
        }

        @Test func aCopyOfAChainSnapshotsTheMergedView() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "root")
                let rootWrote = Gate()
                let copied = Gate()
                let chained = Task(inheriting: .chain) { () async throws -> [String?] in
                    try TaskContext.set(b, "chain")
                    let copy = Task(inheriting: .copy) { () async -> [String?] in
                        await rootWrote.wait()
                        return [TaskContext.get(a), TaskContext.get(b)]
                    }
                    copied.open()
                    return await copy.value
                }
                await copied.wait()
                try TaskContext.set(a, "root-2")
                rootWrote.open()
                #expect(try await chained.value == ["root", "chain"])
            }
        }

        @Test func aChainedChildOutlivesItsParentsScope() async throws {
            let parentEnded = Gate()
            let child = try TaskContext.run { () throws -> Task<[String?], any Error> in
                try TaskContext.set(a, "parent")
                return Task(inheriting: .chain) { () async throws -> [String?] in
                    await parentEnded.wait()
                    let inherited = TaskContext.get(a)
                    try TaskContext.set(b, "child")
                    return [inherited, TaskContext.get(b)]
                }
            }
            #expect(TaskContext.get(a) == nil, "the parent's scope has ended")
            parentEnded.open()
            #expect(try await child.value == ["parent", "child"])
        }

        @Test func aSharedChildOfAChainSharesTheLayer() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "root")
                try await TaskContext.run(inheriting: .chain) {
                    try TaskContext.set(b, "layer")
                    try await Task(inheriting: .share) {
                        #expect(TaskContext.get(a) == "root")
                        #expect(TaskContext.get(b) == "layer")
                        try TaskContext.set(c, "shared")
                    }.value
                    #expect(TaskContext.get(c) == "shared")
                }
                #expect(TaskContext.get(b) == nil)
                #expect(TaskContext.get(c) == nil)
            }
        }
    }
}
