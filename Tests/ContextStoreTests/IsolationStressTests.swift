import ContextStore
import Synchronization
import Testing

// Many scopes at once: no scope ever sees another's value, and no write into
// a shared scope is lost.

private let requestID = ContextKey<String>("stress.request_id")

/// Counters and the first few violations, written by thousands of tasks.
private final class StressLog: Sendable {
    let reads = Atomic<Int>(0)
    let violations = Atomic<Int>(0)
    private let samples = Cell<[String]>([])

    func read(_ ok: Bool, _ what: @autoclosure () -> String) {
        reads.add(1, ordering: .relaxed)
        if !ok { fail(what()) }
    }

    func fail(_ what: String) {
        violations.add(1, ordering: .relaxed)
        samples.mutate { if $0.count < 10 { $0.append(what) } }
    }

    var firstViolations: [String] { samples.value }
}

/// How a root's child gets its context.
private enum ChildKind: CaseIterable {
    case plain, copy, chain

    init(_ index: Int) { self = Self.allCases[index % Self.allCases.count] }

    /// Whether the child's own writes land in its root's scope.
    var sharesRootScope: Bool { self == .plain }
}

private func childKey(_ index: Int) -> ContextKey<String> {
    ContextKey<String>("stress.child.\(index)")
}

extension ContextStoreTests {
    @Suite("Isolation under concurrency")
    struct IsolationStressTests {
        /// 1,000 root scopes run at once, each with 10 children (plain
        /// `addTask`, `addTask(inheriting: .copy)` and `.chain`) that read
        /// their root's request id across several suspension points.
        @Test func concurrentRootScopesNeverSeeEachOther() async {
            let roots = 1_000
            let childrenPerRoot = 10
            let readsPerChild = 4
            let log = StressLog()

            await withTaskGroup(of: Void.self) { rootGroup in
                for root in 0..<roots {
                    rootGroup.addTask {
                        await TaskContext.run {
                            let mine = "request-\(root)"
                            do {
                                try TaskContext.set(requestID, mine)
                            } catch {
                                log.fail("root \(root): set threw \(error)")
                            }
                            await withTaskGroup(of: Void.self) { children in
                                for index in 0..<childrenPerRoot {
                                    let probe: @Sendable () async -> Void = {
                                        let own = "\(mine)/child-\(index)"
                                        do {
                                            try TaskContext.set(childKey(index), own)
                                        } catch {
                                            log.fail("root \(root) child \(index): set threw \(error)")
                                        }
                                        for round in 0..<readsPerChild {
                                            if round % 2 == 0 {
                                                await Task.yield()
                                            } else {
                                                try? await Task.sleep(for: .milliseconds(1))
                                            }
                                            let seen = TaskContext.get(requestID)
                                            log.read(seen == mine, "root \(root) child \(index) read \(seen ?? "nil")")
                                            let byName = TaskContext.get("stress.request_id") as? String
                                            log.read(
                                                byName == mine,
                                                "root \(root) child \(index) read \(byName ?? "nil") by name")
                                            let ownSeen = TaskContext.get(childKey(index))
                                            log.read(
                                                ownSeen == own,
                                                "root \(root) child \(index) own key read \(ownSeen ?? "nil")")
                                        }
                                    }
                                    switch ChildKind(index) {
                                    case .plain: children.addTask { await probe() }
                                    case .copy: children.addTask(inheriting: .copy) { await probe() }
                                    case .chain: children.addTask(inheriting: .chain) { await probe() }
                                    }
                                }
                            }
                            // The root's own view afterwards: its request id, the
                            // writes of the children that share its scope, and
                            // none of the forked children's.
                            let seen = TaskContext.get(requestID)
                            log.read(seen == mine, "root \(root) read \(seen ?? "nil") after its children")
                            for index in 0..<childrenPerRoot {
                                let value = TaskContext.get(childKey(index))
                                let expected = ChildKind(index).sharesRootScope ? "\(mine)/child-\(index)" : nil
                                log.read(
                                    value == expected, "root \(root) saw child \(index)'s key as \(value ?? "nil")")
                            }
                        }
                    }
                }
            }

            #expect(log.violations.load(ordering: .relaxed) == 0, "\(log.firstViolations)")
            let expectedReads = roots * (childrenPerRoot * readsPerChild * 3 + 1 + childrenPerRoot)
            #expect(log.reads.load(ordering: .relaxed) == expectedReads)
        }

        /// Tasks writing distinct keys into one shared scope, through every
        /// way of sharing it: no write is lost.
        @Test func concurrentWritesIntoOneSharedScopeAreAllKept() async throws {
            let writers = 200
            let keysPerWriter = 5
            let failures = Cell<[String]>([])

            let final = await TaskContext.run { () async -> TaskContext in
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        let write: @Sendable () async -> Void = {
                            for key in 0..<keysPerWriter {
                                do {
                                    try TaskContext.set("stress.w\(writer).k\(key)", writer * keysPerWriter + key)
                                } catch {
                                    failures.mutate { $0.append("\(writer)/\(key): \(error)") }
                                }
                                await Task.yield()
                            }
                        }
                        switch writer % 4 {
                        case 0: group.addTask { await write() }
                        case 1: group.addTask(inheriting: .share) { await write() }
                        case 2: group.addTask { await Task(inheriting: .share) { await write() }.value }
                        default: group.addTask { await TaskContext.run(inheriting: .share) { await write() } }
                        }
                    }
                }
                return TaskContext.current
            }

            #expect(failures.value == [])
            #expect(final.count == writers * keysPerWriter)
            var wrong: [String] = []
            for writer in 0..<writers {
                for key in 0..<keysPerWriter
                where final["stress.w\(writer).k\(key)"] as? Int != writer * keysPerWriter + key {
                    wrong.append("stress.w\(writer).k\(key)")
                }
            }
            #expect(wrong == [])
        }

        /// Tasks writing one key of a shared scope concurrently: the final
        /// value is one of the values written, and readers never see
        /// anything else.
        @Test func concurrentWritesToOneKeyLeaveOneOfTheWrittenValues() async throws {
            let writers = 100
            let written = Set(0..<writers)
            let strays = Cell<[Int]>([])
            let final = await TaskContext.run { () async -> Int? in
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        group.addTask {
                            try? TaskContext.set("stress.contended", writer)
                            await Task.yield()
                            if let seen = TaskContext.get("stress.contended") as? Int, !written.contains(seen) {
                                strays.mutate { $0.append(seen) }
                            }
                        }
                    }
                }
                return TaskContext.get("stress.contended", default: -1)
            }
            #expect(strays.value == [])
            #expect(final.map { written.contains($0) } == true)
        }
    }
}
