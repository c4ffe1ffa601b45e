import ContextStore
import Synchronization

/// A fork kept past the end of the scope that made it, checked later by
/// another scope (or at the end of the run).
enum KeptFork: Sendable {
    /// `TaskContext.current`, taken in scope `request`.
    case snapshot(request: Int, TaskContext)
    /// A task forked from scope `request` that, after a suspension, returns
    /// the encoded request id it read.
    case task(request: Int, Task<Int?, Never>)
}

/// A bounded set of kept forks: each new one evicts a random old one once
/// it is full, and the evicted one is checked by the scope that evicted it.
final class KeptForks: Sendable {
    private let capacity: Int
    private let forks = Mutex<[KeptFork]>([])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Keeps `fork`; returns the one it displaced, if any.
    func keep(_ fork: KeptFork, slot: Int) -> KeptFork? {
        forks.withLock { forks in
            guard forks.count >= capacity else {
                forks.append(fork)
                return nil
            }
            let index = slot % capacity
            defer { forks[index] = fork }
            return forks[index]
        }
    }

    func drain() -> [KeptFork] {
        forks.withLock { forks in
            defer { forks = [] }
            return forks
        }
    }
}

/// One scope's run: what a request handler does with its context.
struct RequestScope {
    let id: Int
    let ledger: Ledger
    let kept: KeptForks
    var rng: SplitMix64

    private var requestValue: Int { Keys.value(id, 32) }
    private var childValue: Int { Keys.value(id, 33) }

    /// Checks what every child and fork of this scope must see: the
    /// request's id and payload, and its first pool key.
    private static func checkInherited(_ id: Int, _ ledger: Ledger, _ what: String) {
        ledger.check(TaskContext.get(Keys.request), is: Keys.value(id, 32), "\(what): request id")
        ledger.check(
            TaskContext.get(Keys.payload).map { Keys.value($0.request, 32) }, is: Keys.value(id, 32), "\(what): payload"
        )
        ledger.check(TaskContext.get(Keys.pool[0]), is: Keys.value(id, 0), "\(what): pool key 0")
    }

    /// A short random pause: a yield, or a sleep of up to 2 ms.
    private static func pause(_ choice: UInt64) async {
        if choice % 3 == 0 {
            await Task.yield()
        } else {
            try? await Task.sleep(for: .microseconds(Int(choice % 2_000)))
        }
    }

    /// What a child does: read what it inherited, write its own key,
    /// pause, and read both again.
    private static func child(_ id: Int, _ mode: Inheritance, _ how: String, _ pauseChoice: UInt64?, _ ledger: Ledger)
        async
    {
        let what = "request \(id) \(how) \(mode)"
        let key = startChild(id, mode, what, ledger)
        if let pauseChoice { await pause(pauseChoice) }
        checkInherited(id, ledger, what)
        ledger.check(TaskContext.get(key), is: Keys.value(id, 33), "\(what): own key")
    }

    /// The synchronous part of a child, for `run(inheriting:)` with a
    /// synchronous body.
    private static func syncChild(_ id: Int, _ mode: Inheritance, _ ledger: Ledger) {
        let what = "request \(id) sync run \(mode)"
        let key = startChild(id, mode, what, ledger)
        ledger.check(TaskContext.get(key), is: Keys.value(id, 33), "\(what): own key")
    }

    /// Counts a child, checks what it inherited and writes its own key,
    /// which it returns.
    private static func startChild(_ id: Int, _ mode: Inheritance, _ what: String, _ ledger: Ledger) -> ContextKey<Int>
    {
        ledger.children.add(1, ordering: .relaxed)
        checkInherited(id, ledger, what)
        let key = Keys.child[mode]!
        do {
            try TaskContext.set(key, Keys.value(id, 33))
        } catch {
            ledger.fail("\(what): set threw \(error)")
        }
        return key
    }

    /// Checks a kept fork, whichever scope kept it.
    static func check(_ fork: KeptFork, _ ledger: Ledger) async {
        switch fork {
        case .snapshot(let request, let context):
            ledger.check(context[Keys.request], is: Keys.value(request, 32), "snapshot of request \(request)")
            ledger.check(
                context[Keys.payload].map { Keys.value($0.request, 32) }, is: Keys.value(request, 32),
                "snapshot of request \(request): payload")
            // Carried into a scope of its own, it reads the same.
            let carried = TaskContext.run(with: context) { TaskContext.get(Keys.pool[0]) }
            ledger.check(carried, is: Keys.value(request, 0), "snapshot of request \(request) in run(with:)")
        case .task(let request, let task):
            ledger.check(await task.value, is: Keys.value(request, 32), "kept task of request \(request)")
        }
    }

    mutating func run() async {
        let id = id
        let ledger = ledger
        await TaskContext.run {
            do {
                try TaskContext.set(Keys.request, requestValue)
                try TaskContext.set(Keys.payload, Payload(request: id))
                let count = Int.random(in: 1...Keys.pool.count, using: &rng)
                for index in 0..<count { try TaskContext.set(Keys.pool[index], Keys.value(id, index)) }
            } catch {
                ledger.fail("request \(id): set threw \(error)")
            }
            Self.checkInherited(id, ledger, "request \(id)")
            await Self.pause(rng.next())

            // Children of every kind, in every mode, in a random order.
            for mode in [Inheritance.copy, .share, .chain].shuffled(using: &rng) {
                let pauseChoice = rng.next()
                switch rng.next() % 4 {
                case 0:
                    await Task(inheriting: mode) { await Self.child(id, mode, "Task", pauseChoice, ledger) }.value
                case 1:
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask(inheriting: mode) { await Self.child(id, mode, "addTask", pauseChoice, ledger) }
                        group.addTask(inheriting: mode) { await Self.child(id, mode, "addTask", nil, ledger) }
                    }
                case 2:
                    await TaskContext.run(inheriting: mode) {
                        await Self.child(id, mode, "async run", pauseChoice, ledger)
                    }
                default:
                    TaskContext.run(inheriting: mode) { Self.syncChild(id, mode, ledger) }
                }
                await Self.pause(rng.next())
            }

            // After the children: its own data, and a shared child's key if
            // one wrote it; a copied or chained child's key never.
            Self.checkInherited(id, ledger, "request \(id) after its children")
            if let shared = TaskContext.get(Keys.child[.share]!) {
                ledger.check(shared, is: childValue, "request \(id): a shared child's key")
            }
            for mode in [Inheritance.copy, .chain] where TaskContext.get(Keys.child[mode]!) != nil {
                ledger.fail("request \(id) sees the key of a \(mode) child")
            }

            // Forks kept past the scope's end, and forks dropped.
            switch rng.next() % 4 {
            case 0:
                ledger.forksKept.add(1, ordering: .relaxed)
                if let evicted = kept.keep(.snapshot(request: id, TaskContext.current), slot: Int(rng.next() % 4096)) {
                    await Self.check(evicted, ledger)
                }
            case 1:
                ledger.forksKept.add(1, ordering: .relaxed)
                let mode = [Inheritance.copy, .share, .chain].randomElement(using: &rng)!
                let pauseChoice = rng.next()
                let task = Task(inheriting: mode) { () -> Int? in
                    await Self.pause(pauseChoice)
                    return TaskContext.get(Keys.request)
                }
                if let evicted = kept.keep(.task(request: id, task), slot: Int(rng.next() % 4096)) {
                    await Self.check(evicted, ledger)
                }
            default:
                ledger.forksDropped.add(1, ordering: .relaxed)
                ledger.droppedRunning.add(1, ordering: .relaxed)
                let mode = [Inheritance.copy, .share, .chain].randomElement(using: &rng)!
                let pauseChoice = rng.next()
                Task(inheriting: mode) {
                    await Self.child(id, mode, "dropped Task", pauseChoice, ledger)
                    ledger.droppedRunning.subtract(1, ordering: .relaxed)
                }
            }
            await Self.pause(rng.next())
            Self.checkInherited(id, ledger, "request \(id) at its end")
        }
        ledger.scopesDone.add(1, ordering: .relaxed)
    }
}
