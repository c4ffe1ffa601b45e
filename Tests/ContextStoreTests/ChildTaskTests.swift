import ContextStore
import Testing

// Child tasks: plain `async let`, task groups and `Task {}` share their
// parent's scope; `Task.detached` is in none; `group.addTask(inheriting:)`
// forks a scope of its own when the child is added, for all four group kinds.

private let a = ContextKey<String>("child.a")
private let b = ContextKey<String>("child.b")
private let slot = ContextKey<Int>("child.slot")

/// What a detached task saw of the context.
private struct DetachedView: Equatable, Sendable {
    var get: String?
    var getByName: String?
    var currentIsEmpty: Bool
    var errors: [ContextError?]
    var inOwnScope: String?

    static let expected = DetachedView(
        get: nil, getByName: nil, currentIsEmpty: true,
        errors: [.noScope(key: "child.a"), .noScope(key: "child.a"), .noScope(key: "child.a"), .noScope(key: "*")],
        inOwnScope: "own")
}

private func detachedView() -> DetachedView {
    let errors = [
        contextError { try TaskContext.set(a, "detached") },
        contextError { try TaskContext.set("child.a", "detached") },
        contextError { try TaskContext.remove(a) },
        contextError { try TaskContext.clear() },
    ]
    let inOwnScope = try? TaskContext.run { () throws -> String? in
        try TaskContext.set(a, "own")
        return TaskContext.get(a)
    }
    return DetachedView(
        get: TaskContext.get(a), getByName: TaskContext.get("child.a") as? String,
        currentIsEmpty: TaskContext.current.isEmpty, errors: errors, inOwnScope: inOwnScope ?? nil)
}

extension ContextStoreTests {
    @Suite("Child tasks")
    struct ChildTaskTests {
        // MARK: Plain children share the parent's scope

        @Test func asyncLetSharesTheParentsScope() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                let parentWrote = Gate()
                async let child: [String?] = {
                    let before = TaskContext.get(a)
                    await parentWrote.wait()
                    let after = TaskContext.get(b)
                    try TaskContext.set(a, "child")
                    return [before, after]
                }()
                try TaskContext.set(b, "parent-later")
                parentWrote.open()
                #expect(try await child == ["parent", "parent-later"])
                #expect(TaskContext.get(a) == "child")
            }
        }

        @Test func taskGroupChildrenShareTheParentsScope() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                let seen = await withTaskGroup(of: String?.self) { group in
                    group.addTask {
                        let seen = TaskContext.get(a)
                        try? TaskContext.set(b, "task-group")
                        return seen
                    }
                    return await group.next() ?? nil
                }
                #expect(seen == "parent")
                #expect(TaskContext.get(b) == "task-group")

                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try TaskContext.set(b, "throwing-task-group") }
                    try await group.waitForAll()
                }
                #expect(TaskContext.get(b) == "throwing-task-group")

                await withDiscardingTaskGroup { group in
                    group.addTask { try? TaskContext.set(b, "discarding-task-group") }
                }
                #expect(TaskContext.get(b) == "discarding-task-group")

                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try TaskContext.set(b, "throwing-discarding-task-group") }
                }
                #expect(TaskContext.get(b) == "throwing-discarding-task-group")
            }
        }

        @Test func plainTaskSharesTheParentsScope() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                let parentWrote = Gate()
                let child = Task { () async throws -> [String?] in
                    let before = TaskContext.get(a)
                    await parentWrote.wait()
                    let after = TaskContext.get(b)
                    try TaskContext.set(a, "child")
                    return [before, after]
                }
                try TaskContext.set(b, "parent-later")
                parentWrote.open()
                #expect(try await child.value == ["parent", "parent-later"])
                #expect(TaskContext.get(a) == "child")
            }
        }

        @Test func plainChildrenOfAForkedChildShareTheChildsScope() async throws {
            try await TaskContext.run {
                try TaskContext.set(a, "root")
                let seen = try await Task(inheriting: .copy) { () async throws -> [String?] in
                    try TaskContext.set(a, "forked")
                    async let viaAsyncLet: String? = {
                        try? TaskContext.set(b, "grandchild")
                        return TaskContext.get(a)
                    }()
                    let viaTask = await Task { TaskContext.get(a) }.value
                    return [await viaAsyncLet, viaTask, TaskContext.get(b)]
                }.value
                #expect(seen == ["forked", "forked", "grandchild"])
                #expect(TaskContext.get(a) == "root")
                #expect(TaskContext.get(b) == nil)
            }
        }

        @Test func plainChildrenOfATaskInNoScopeAreInNoScopeToo() async {
            async let fromAsyncLet = contextError { try TaskContext.set(a, "x") }
            let fromTask = await Task { contextError { try TaskContext.set(a, "x") } }.value
            #expect(await fromAsyncLet == .noScope(key: "child.a"))
            #expect(fromTask == .noScope(key: "child.a"))
        }

        // MARK: Task.detached is in no scope

        @Test func aDetachedTaskIsInNoScope() async throws {
            let fromScope = try await TaskContext.run { () async throws -> DetachedView in
                try TaskContext.set(a, "parent")
                return await Task.detached { detachedView() }.value
            }
            #expect(fromScope == .expected)

            let fromChainedChild = try await TaskContext.run { () async throws -> DetachedView in
                try TaskContext.set(a, "parent")
                return await Task(inheriting: .chain) {
                    await Task.detached { detachedView() }.value
                }.value
            }
            #expect(fromChainedChild == .expected)

            let fromNoScope = await Task.detached { detachedView() }.value
            #expect(fromNoScope == .expected)
        }

        // MARK: group.addTask(inheriting:) forks when the child is added
        //
        // Each probe runs twice: on the default executor, and on a serial
        // executor, where the child certainly cannot start before the parent,
        // having added it, has written and suspended.

        private static func onBothExecutors(
            _ probe: @escaping @Sendable () async throws -> ForkObservation
        ) async throws -> [ForkObservation] {
            let onDefault = try await probe()
            let onSerial = try await withTaskExecutorPreference(SerialExecutorThread.shared) {
                try await probe()
            }
            return [onDefault, onSerial]
        }

        @Test(arguments: allModes)
        func taskGroupAddTaskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            let seen = try await Self.onBothExecutors {
                try await probeFork(mode) { mode, child, afterCreation in
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask(inheriting: mode) { await child() }
                        afterCreation()
                        await group.waitForAll()
                    }
                }
            }
            #expect(seen == [.expected(for: mode), .expected(for: mode)])
        }

        @Test(arguments: allModes)
        func throwingTaskGroupAddTaskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            let seen = try await Self.onBothExecutors {
                try await probeFork(mode) { mode, child, afterCreation in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask(inheriting: mode) {
                            await child()
                            try Task.checkCancellation()
                        }
                        afterCreation()
                        try await group.waitForAll()
                    }
                }
            }
            #expect(seen == [.expected(for: mode), .expected(for: mode)])
        }

        @Test(arguments: allModes)
        func discardingTaskGroupAddTaskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            let seen = try await Self.onBothExecutors {
                try await probeFork(mode) { mode, child, afterCreation in
                    await withDiscardingTaskGroup { group in
                        group.addTask(inheriting: mode) { await child() }
                        afterCreation()
                    }
                }
            }
            #expect(seen == [.expected(for: mode), .expected(for: mode)])
        }

        @Test(arguments: allModes)
        func throwingDiscardingTaskGroupAddTaskInheritingForksAtCreation(_ mode: Inheritance) async throws {
            let seen = try await Self.onBothExecutors {
                try await probeFork(mode) { mode, child, afterCreation in
                    try await withThrowingDiscardingTaskGroup { group in
                        group.addTask(inheriting: mode) {
                            await child()
                            try Task.checkCancellation()
                        }
                        afterCreation()
                    }
                }
            }
            #expect(seen == [.expected(for: mode), .expected(for: mode)])
        }

        @Test func aThrowingGroupChildWithItsOwnScopeRethrows() async throws {
            struct Boom: Error {}
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                await #expect(throws: Boom.self) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask(inheriting: .copy) {
                            try TaskContext.set(a, "child")
                            throw Boom()
                        }
                        try await group.waitForAll()
                    }
                }
                #expect(TaskContext.get(a) == "parent")
            }
        }

        /// The priority reaches the child as it does through the plain `addTask(priority:)`.
        @Test func addTaskInheritingPassesThePriorityOn() async throws {
            let priorities = try await TaskContext.run { () async throws -> [TaskPriority?] in
                try TaskContext.set(a, "parent")
                return await withTaskGroup(of: TaskPriority.self) { group in
                    group.addTask(inheriting: .copy, priority: .high) { Task.currentPriority }
                    let forked = await group.next()
                    group.addTask(priority: .high) { Task.currentPriority }
                    let plain = await group.next()
                    return [forked, plain]
                }
            }
            #expect(priorities[0] != nil)
            #expect(priorities[0] == priorities[1])
        }

        // MARK: Siblings in a group

        @Test(arguments: [Inheritance.copy, .chain])
        func forkedGroupSiblingsKeepTheirOwnValues(_ mode: Inheritance) async throws {
            let children = 50
            try await TaskContext.run {
                try TaskContext.set(a, "parent")
                let results = await withTaskGroup(of: (Int, [Int?], String?).self) { group in
                    for index in 0..<children {
                        group.addTask(inheriting: mode) {
                            var seen: [Int?] = []
                            try? TaskContext.set(slot, index)
                            for round in 0..<3 {
                                if round % 2 == 0 {
                                    await Task.yield()
                                } else {
                                    try? await Task.sleep(for: .milliseconds(1))
                                }
                                seen.append(TaskContext.get(slot))
                            }
                            return (index, seen, TaskContext.get(a))
                        }
                    }
                    var results: [(Int, [Int?], String?)] = []
                    for await result in group { results.append(result) }
                    return results
                }
                #expect(results.count == children)
                for (index, seen, inherited) in results {
                    #expect(seen == [index, index, index], "child \(index)")
                    #expect(inherited == "parent", "child \(index)")
                }
                #expect(TaskContext.get(slot) == nil, "no child's write reached the parent")
            }
        }

        @Test func sharedGroupSiblingsWriteIntoTheParent() async throws {
            let children = 50
            try await TaskContext.run {
                try await withThrowingDiscardingTaskGroup { group in
                    for index in 0..<children {
                        group.addTask(inheriting: .share) {
                            try TaskContext.set("child.shared.\(index)", index)
                        }
                    }
                }
                let current = TaskContext.current
                #expect(current.count == children)
                for index in 0..<children {
                    #expect(current["child.shared.\(index)"] as? Int == index)
                }
            }
        }
    }
}

extension ContextStoreTests {
    /// A scope's first writes stay in its slot, not in a map (see slot.c);
    /// a copy takes them along. Both sides of a copy keep writing apart, and
    /// a snapshot of either sees all of its own.
    @Suite("Pending writes across copies")
    struct PendingWriteTests {
        @Test func aCopyTakesThePendingWritesAndEachSideKeepsItsOwn() async throws {
            let keys = (0..<6).map { ContextKey<Int>("pending.copy.\($0)") }
            try await TaskContext.run {
                try TaskContext.set(keys[0], 0)
                try TaskContext.set(keys[1], 1)
                let child = Task(inheriting: .copy) { () throws -> [Int?] in
                    try TaskContext.set(keys[1], 11)  // a pending key, replaced
                    try TaskContext.set(keys[2], 12)  // a new one
                    try TaskContext.remove(keys[0])  // a pending key, removed
                    return keys.map { TaskContext.get($0) } + [TaskContext.current.count]
                }
                try TaskContext.set(keys[3], 3)
                try TaskContext.set(keys[4], 4)
                try TaskContext.set(keys[5], 5)  // beyond the pending entries: to the map
                let seen = try await child.value
                #expect(seen == [nil, 11, 12, nil, nil, nil, 2])
                #expect(keys.map { TaskContext.get($0) } == [0, 1, nil, 3, 4, 5])
                let snapshot = TaskContext.current
                #expect(snapshot.count == 5)
                #expect(keys.map { snapshot[$0] } == [0, 1, nil, 3, 4, 5])
                try TaskContext.remove(keys[5])
                try TaskContext.set(keys[2], 2)
                #expect(keys.map { TaskContext.get($0) } == [0, 1, 2, 3, 4, nil])
                #expect(snapshot.count == 5, "a snapshot keeps what it saw")
            }
        }
    }
}
