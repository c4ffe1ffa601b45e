import ContextStore
import Foundation
import Testing

// Values of every kind: structs, classes, existentials, closures, optionals,
// tuples, large collections; and values whose `deinit` reads and writes the
// context, which the store releases from inside its own operations.

private protocol Shape: Sendable {
    var area: Double { get }
}

private struct Square: Shape, Equatable {
    var side: Double
    var area: Double { side * side }
}

private struct Circle: Shape, Equatable {
    var radius: Double
    var area: Double { 3 * radius * radius }
}

private struct Point: Sendable, Equatable {
    var x: Int
    var y: Int
    var label: String
}

private enum Route: Sendable, Equatable {
    case home
    case user(id: Int, tab: String)
}

private final class Session: Sendable {
    let id: Int
    init(id: Int) { self.id = id }
}

private let reentrantKey = ContextKey<Reentrant>("kinds.reentrant")
private let writtenByDeinit = ContextKey<String>("kinds.written-by-deinit")
private let readByDeinit = ContextKey<String>("kinds.read-by-deinit")

/// A value whose deinit uses the context: it reads `readByDeinit`, writes
/// what it read (or an error) to `writtenByDeinit`, opens a scope of its
/// own and reads `current`, and logs all that.
private final class Reentrant: Sendable {
    let label: String
    let log: Cell<[String]>

    init(_ label: String, _ log: Cell<[String]>) {
        self.label = label
        self.log = log
    }

    deinit {
        let read = TaskContext.get(readByDeinit) ?? "nil"
        let wrote: String
        do {
            try TaskContext.set(writtenByDeinit, "\(label) read \(read)")
            wrote = "wrote"
        } catch {
            wrote = "\(error)"
        }
        let nested = TaskContext.run(inheriting: .chain) { () -> Bool in
            (try? TaskContext.set(readByDeinit, "nested")) != nil && TaskContext.get(readByDeinit) == "nested"
        }
        let count = TaskContext.current.count
        log.mutate { $0.append("\(label): read \(read), \(wrote), nested \(nested), count \(count)") }
    }
}

extension ContextStoreTests {
    @Suite("Values of every kind")
    struct ValueKindTests {
        @Test func structsEnumsTuplesAndCollections() throws {
            let point = ContextKey<Point>("kinds.point")
            let route = ContextKey<Route>("kinds.route")
            let pair = ContextKey<(Int, String)>("kinds.pair")
            let big = ContextKey<[Int]>("kinds.big")
            let table = ContextKey<[String: [Int]]>("kinds.table")
            let numbers = Array(0..<100_000)
            try TaskContext.run {
                try TaskContext.set(point, Point(x: 1, y: -2, label: "p"))
                try TaskContext.set(route, .user(id: 7, tab: "posts"))
                try TaskContext.set(pair, (3, "three"))
                try TaskContext.set(big, numbers)
                try TaskContext.set(table, ["a": [1, 2], "b": []])
                #expect(TaskContext.get(point) == Point(x: 1, y: -2, label: "p"))
                #expect(TaskContext.get(route) == .user(id: 7, tab: "posts"))
                #expect(TaskContext.get(pair).map { "\($0.0) \($0.1)" } == "3 three")
                #expect(TaskContext.get(big) == numbers)
                #expect(TaskContext.get(table) == ["a": [1, 2], "b": []])
                #expect(TaskContext.get("kinds.point") as? Point == Point(x: 1, y: -2, label: "p"))
                #expect(TaskContext.get(ContextKey<Route>("kinds.point")) == nil, "another type reads as nil")
            }
        }

        @Test func classesKeepTheirIdentity() async throws {
            let session = ContextKey<Session>("kinds.session")
            let original = Session(id: 42)
            try await TaskContext.run {
                try TaskContext.set(session, original)
                #expect(TaskContext.get(session) === original)
                let inChild = await Task(inheriting: .copy) { TaskContext.get(session) }.value
                #expect(inChild === original, "a copy of a context shares its reference values")
                #expect(TaskContext.get("kinds.session") as? Session === original)
            }
        }

        /// An existential keeps its dynamic type: it reads back through the
        /// existential key, through a key of the concrete type, and by name.
        @Test func existentials() throws {
            let shape = ContextKey<any Shape>("kinds.shape")
            let anyValue = ContextKey<any Sendable>("kinds.any")
            try TaskContext.run {
                try TaskContext.set(shape, Square(side: 2))
                #expect(TaskContext.get(shape)?.area == 4)
                #expect(TaskContext.get(shape) is Square)
                #expect(TaskContext.get(ContextKey<Square>("kinds.shape")) == Square(side: 2))
                #expect(TaskContext.get(ContextKey<Circle>("kinds.shape")) == nil)

                let circle: any Shape = Circle(radius: 1)
                try TaskContext.set("kinds.shape", circle)  // by name: boxed by its dynamic type
                #expect(TaskContext.get(ContextKey<Circle>("kinds.shape")) == Circle(radius: 1))
                #expect(TaskContext.get(shape)?.area == 3)

                try TaskContext.set(anyValue, 5)
                #expect(TaskContext.get(anyValue) as? Int == 5)
                #expect(TaskContext.get(ContextKey<Int>("kinds.any")) == 5)
            }
        }

        @Test func closures() async throws {
            let make = ContextKey<@Sendable () -> Int>("kinds.closure")
            let transform = ContextKey<@Sendable (Int) async -> String>("kinds.async-closure")
            let base = 40
            try await TaskContext.run {
                try TaskContext.set(make) { base + 2 }
                try TaskContext.set(transform) { n in
                    await Task.yield()
                    return "n=\(n)"
                }
                #expect(TaskContext.get(make)?() == 42)
                #expect(await TaskContext.get(transform)?(7) == "n=7")
                let byName = TaskContext.get("kinds.closure") as? @Sendable () -> Int
                #expect(byName?() == 42)
                let inChild = await Task(inheriting: .chain) { TaskContext.get(make)?() }.value
                #expect(inChild == 42)
            }
        }

        /// A stored nil is a value, distinct from no value: the key is
        /// present, `get` returns `.some(nil)`, and the default is not used.
        @Test func optionals() throws {
            let maybe = ContextKey<Int?>("kinds.optional")
            try TaskContext.run {
                #expect(TaskContext.get(maybe) == Int??.none)
                try TaskContext.set(maybe, nil)
                #expect(TaskContext.get(maybe) == Int??.some(nil))
                #expect(TaskContext.get(maybe, default: 5) == nil, "the stored nil, not the default")
                #expect(TaskContext.current.count == 1)
                try TaskContext.set(maybe, 3)
                #expect(TaskContext.get(maybe) == Int??.some(3))
                #expect(TaskContext.get(ContextKey<Int>("kinds.optional")) == 3)
            }
            var context = TaskContext()
            context[maybe] = .some(nil)  // stores nil
            #expect(context.count == 1)
            #expect(context[maybe] == Int??.some(nil))
            context[maybe] = nil  // removes the key
            #expect(context.isEmpty)
        }

        // MARK: Re-entrancy from release

        /// Each way the store can release a value runs its deinit outside any
        /// lock: the deinit reads and writes the context without deadlock,
        /// and its write lands in the scope that is current at that point.
        @Test func aDeinitThatUsesTheContext() async throws {
            let log = Cell<[String]>([])
            try await TaskContext.run {
                try TaskContext.set(readByDeinit, "outer")

                // Replaced by a set: the deinit runs inside that set, after
                // the replacement, and writes into the same scope.
                try TaskContext.set(reentrantKey, Reentrant("replaced", log))
                try TaskContext.set(reentrantKey, Reentrant("replacement", log))
                #expect(TaskContext.get(writtenByDeinit) == "replaced read outer")

                // Removed, and cleared.
                try TaskContext.remove(reentrantKey)
                #expect(TaskContext.get(writtenByDeinit) == "replacement read outer")
                try TaskContext.set(reentrantKey, Reentrant("cleared", log))
                try TaskContext.clear()
                #expect(
                    TaskContext.get(writtenByDeinit) == "cleared read nil", "clear ran first, then the deinit wrote")
                try TaskContext.set(readByDeinit, "outer")

                // Its scope ends: the deinit runs in the enclosing scope.
                try TaskContext.run(inheriting: .copy) {
                    try TaskContext.set(readByDeinit, "inner")
                    try TaskContext.set(reentrantKey, Reentrant("scope end", log))
                }
                #expect(TaskContext.get(writtenByDeinit) == "scope end read outer")

                // A dropped snapshot was the last holder.
                var snapshot: TaskContext? = try TaskContext.run { () throws -> TaskContext in
                    try TaskContext.set(reentrantKey, Reentrant("snapshot", log))
                    return TaskContext.current
                }
                #expect(snapshot?.count == 3)
                snapshot = nil
                #expect(TaskContext.get(writtenByDeinit) == "snapshot read outer")

                // A forked child's scope ends with the child, after the
                // parent dropped its own reference: the runtime frees it at
                // the child's teardown, outside any task and any scope. The
                // deinit sees no context there (not the executor thread's).
                let go = Gate()
                let child = Task(inheriting: .chain) {
                    await go.wait()
                    try? TaskContext.set(reentrantKey, Reentrant("chained child", log))
                }
                go.open()
                await child.value
                #expect(await eventually { log.value.count == 6 })
                #expect(TaskContext.get(writtenByDeinit) == "snapshot read outer", "the child's deinit wrote nowhere")
                _ = snapshot
            }
            // In a task in no scope the deinit's write throws noScope.
            do {
                var context = TaskContext()
                context[reentrantKey] = Reentrant("no scope", log)
                _ = context
            }
            let noScope = ContextError.noScope(key: writtenByDeinit.name)
            #expect(
                log.value == [
                    "replaced: read outer, wrote, nested true, count 3",
                    "replacement: read outer, wrote, nested true, count 2",
                    "cleared: read nil, wrote, nested true, count 1",
                    "scope end: read outer, wrote, nested true, count 2",
                    "snapshot: read outer, wrote, nested true, count 2",
                    "chained child: read nil, \(noScope), nested true, count 0",
                    "no scope: read nil, \(noScope), nested true, count 0",
                ])
        }

        /// A thread's context is freed when the thread exits, from a pthread
        /// key destructor. A deinit run there sees no context (the thread's
        /// own is hidden while the store releases values), so it cannot
        /// make a new one that would outlive the thread's teardown.
        @Test func aDeinitAtThreadExit() async throws {
            _ = await onPlainThread {}  // interns the helper's own key name first
            _ = (reentrantKey, readByDeinit, writtenByDeinit)
            let start = LiveFigures()
            let log = Cell<[String]>([])
            await onPlainThread {
                try? TaskContext.set(readByDeinit, "thread")
                try? TaskContext.set(reentrantKey, Reentrant("thread exit", log))
            }
            #expect(await eventually { log.value.count == 1 })
            let noScope = ContextError.noScope(key: writtenByDeinit.name)
            #expect(log.value == ["thread exit: read nil, \(noScope), nested true, count 0"])
            #expect(await eventually { LiveFigures() == start }, "started at \(start), now \(LiveFigures())")
        }
    }
}
