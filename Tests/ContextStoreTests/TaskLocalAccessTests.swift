import Foundation
import Testing

@testable import ContextStore

// The hot path reads the bound scope through the runtime's
// `swift_task_localValueGet` (see `_TaskLocalAccess.swift`) rather than
// `TaskLocal.get()`. These tests check that the two always agree, so a
// runtime whose task-local layout differs fails here and not in production.

private let key = ContextKey<String>("access.key")

/// The slot `TaskLocal.get()` reports, and the one `_boundSlot()` borrows.
private struct Agreement: Equatable, Sendable, CustomStringConvertible {
    var viaTaskLocal: UInt?
    var viaRuntime: UInt?

    init() {
        viaTaskLocal = TaskContext._binding.get().slot.map { UInt(bitPattern: Int(bitPattern: $0)) }
        viaRuntime = _boundSlot().map { UInt(bitPattern: Int(bitPattern: $0)) }
    }

    var agrees: Bool { viaTaskLocal == viaRuntime }
    var isBound: Bool { viaRuntime != nil }
    var description: String {
        "TaskLocal.get() \(viaTaskLocal.map(String.init) ?? "nil"), runtime \(viaRuntime.map(String.init) ?? "nil")"
    }
}

extension ContextStoreTests {
    @Suite("Task-local access")
    struct TaskLocalAccessTests {
        @Test func unboundInATask() {
            let now = Agreement()
            #expect(now.agrees, "\(now)")
            #expect(!now.isBound)
        }

        @Test func boundNestedAndUnbound() throws {
            #expect(!Agreement().isBound)
            try TaskContext.run {
                let outer = Agreement()
                #expect(outer.agrees, "\(outer)")
                #expect(outer.isBound)
                try TaskContext.set(key, "outer")

                TaskContext.run(inheriting: .chain) {
                    let inner = Agreement()
                    #expect(inner.agrees, "\(inner)")
                    #expect(inner.isBound)
                    #expect(inner.viaRuntime != outer.viaRuntime, "a nested scope is a new binding")

                    // Bound to no scope inside a binding: nothing is bound.
                    TaskContext._binding.withValue(_Scope.none) {
                        let none = Agreement()
                        #expect(none.agrees, "\(none)")
                        #expect(!none.isBound)
                        #expect(TaskContext.get(key) == nil)
                    }
                    #expect(Agreement() == inner, "unbinding restores the inner binding")
                }
                #expect(Agreement() == outer, "unbinding restores the outer binding")

                // Sharing the bound scope does not rebind.
                TaskContext.run(inheriting: .share) {
                    #expect(Agreement() == outer)
                }
                #expect(TaskContext.get(key) == "outer")
            }
            let after = Agreement()
            #expect(after.agrees, "\(after)")
            #expect(!after.isBound)
        }

        @Test func deeplyNestedBindings() {
            func nest(_ depth: Int, _ seen: inout Set<UInt>) {
                let now = Agreement()
                #expect(now.agrees, "depth \(depth): \(now)")
                if let slot = now.viaRuntime { seen.insert(slot) }
                guard depth > 0 else { return }
                TaskContext.run(inheriting: depth % 2 == 0 ? .copy : .chain) { nest(depth - 1, &seen) }
                #expect(Agreement() == now, "depth \(depth) after its inner scope ended")
            }
            var seen: Set<UInt> = []
            TaskContext.run { nest(20, &seen) }
            #expect(seen.count == 21, "every level is a binding of its own")
        }

        @Test func acrossSuspensionPointsAndChildTasks() async throws {
            try await TaskContext.run {
                let outer = Agreement()
                #expect(outer.isBound)
                await Task.yield()
                try await Task.sleep(for: .milliseconds(1))
                #expect(Agreement() == outer)

                async let viaAsyncLet = Agreement()
                let viaGroup = await withTaskGroup(of: Agreement.self) { group in
                    group.addTask { Agreement() }
                    return await group.next()
                }
                let viaTask = await Task { Agreement() }.value
                // Plain children carry the parent's binding.
                #expect(await viaAsyncLet == outer)
                #expect(viaGroup == outer)
                #expect(viaTask == outer)

                // Children with scopes of their own are bound to those.
                let copied = await Task(inheriting: .copy) { Agreement() }.value
                let chained = await withTaskGroup(of: Agreement.self) { group in
                    group.addTask(inheriting: .chain) { Agreement() }
                    return await group.next()
                }
                let shared = await Task(inheriting: .share) { Agreement() }.value
                #expect(copied.agrees && copied.isBound && copied != outer, "\(copied)")
                #expect(
                    chained.map { $0.agrees && $0.isBound && $0 != outer } == true, "\(String(describing: chained))")
                #expect(shared == outer)

                // A detached task has no binding.
                let detached = await Task.detached { Agreement() }.value
                #expect(detached.agrees, "\(detached)")
                #expect(!detached.isBound)
            }
        }

        @Test func aBindingThatTakesItsScopeOver() async {
            // `_withBinding`, which `Task(inheriting:)` binds with, hands the
            // caller's reference to the runtime's binding instead of adding
            // one. Inside it both reads see the scope, a child task copies
            // the binding, the enclosing binding is back afterwards, and the
            // scope is freed with its last holder: not leaked, not early.
            struct Weak: Sendable { weak var scope: _Scope? }
            let watched = Cell(Weak())
            let gate = Gate()
            let (outer, inner, after, child) = TaskContext.run {
                () -> (Agreement, Agreement, Agreement, Task<Agreement, Never>) in
                let outer = Agreement()
                let scope = _Scope.make(.copy, over: _boundSlot())
                watched.value = Weak(scope: scope)
                let (inner, child) = _withBinding(scope) {
                    (
                        Agreement(),
                        Task { () -> Agreement in
                            await gate.wait()
                            return Agreement()
                        }
                    )
                }
                return (outer, inner, Agreement(), child)
            }
            #expect(outer.isBound && inner.isBound && inner.agrees, "\(inner)")
            #expect(inner != outer, "bound to the new scope")
            #expect(after == outer, "the enclosing binding is back")
            #expect(watched.value.scope != nil, "the child's copy of the binding holds the scope")
            gate.open()
            #expect(await child.value == inner)
            #expect(await eventually { watched.value.scope == nil }, "freed with the child's binding")
        }

        @Test func onAThreadWithASynchronousBinding() async {
            let seen = await onPlainThread { () -> [Agreement] in
                var seen = [Agreement()]
                let scope = _Scope.make(.copy, over: nil)
                TaskContext._binding.withValue(scope) {
                    seen.append(Agreement())
                    TaskContext._binding.withValue(_Scope.none) { seen.append(Agreement()) }
                    TaskContext.run(inheriting: .chain) { seen.append(Agreement()) }
                    seen.append(Agreement())
                }
                seen.append(Agreement())
                return seen
            }
            #expect(seen.count == 6)
            for (index, agreement) in seen.enumerated() {
                #expect(agreement.agrees, "step \(index): \(agreement)")
            }
            #expect(seen.map(\.isBound) == [false, true, false, true, true, false])
            #expect(seen[1] == seen[4], "the outer binding is restored")
            #expect(seen[3] != seen[1], "the nested scope is a binding of its own")
        }

        @Test func aTaskOnAThreadWithAContextSeesNone() async {
            // `_readSlot` asks whether the caller is in a task only when the
            // thread has a context of its own. Give the global executor's
            // threads one (Dispatch work runs on the same threads), then
            // read from tasks on them: a task with no scope sees nothing.
            let threadKey = ContextKey<String>("access.thread-context")
            let group = DispatchGroup()
            for _ in 0..<64 {
                DispatchQueue.global().async(group: group) {
                    try? TaskContext.set(threadKey, "thread")
                    #expect(TaskContext.get(threadKey) == "thread", "off any task, the thread's context")
                }
            }
            await withCheckedContinuation { done in group.notify(queue: .global()) { done.resume() } }
            let seen = await withTaskGroup(of: [String?].self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        [TaskContext.get(threadKey), TaskContext.current[threadKey]]
                            + TaskContext.run(inheriting: .copy) { [TaskContext.get(threadKey)] }
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(seen.count == 64 * 3)
            #expect(seen.allSatisfy { $0 == nil }, "\(seen.compactMap { $0 })")
            #expect(throws: ContextError.noScope(key: threadKey.name)) { try TaskContext.set(threadKey, "task") }
        }

        @Test func theHotPathReadsWhatTheBindingHolds() async throws {
            // `get` goes through `_boundSlot()`; on a thread it falls back to
            // the thread's context only when nothing is bound.
            let seen = await onPlainThread { () -> [String?] in
                try? TaskContext.set(key, "thread")
                var seen = [TaskContext.get(key)]
                let scope = _Scope.make(.copy, over: nil)
                TaskContext._binding.withValue(scope) {
                    seen.append(TaskContext.get(key))
                    try? TaskContext.set(key, "bound")
                    seen.append(TaskContext.get(key))
                }
                seen.append(TaskContext.get(key))
                return seen
            }
            #expect(seen == ["thread", nil, "bound", "thread"])
        }
    }
}
