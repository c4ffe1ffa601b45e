import ContextStore
import Foundation
import Synchronization
import Testing

// Shared machinery of the Swift API tests.
//
// Every suite of this target is nested in `ContextStoreTests`, which is
// `.serialized`: the process has one global store, and the lifetime tests
// compare `TaskContext.statistics` figures exactly, so no other test of this
// target may run beside them. (The C API tests of `CContextStoreTests` use
// stores of their own and may run concurrently.) Each test is still free to
// spawn as many concurrent tasks and threads as it likes.

/// The root of every suite in this target; see the note above.
@Suite(.serialized)
struct ContextStoreTests {}

// MARK: - Lifetime tracking

/// Counts how many `Tracked` values made with it have been deinitialised.
final class DeinitCounter: Sendable {
    private let deinits = Atomic<Int>(0)

    /// Deinitialisations so far.
    var count: Int { deinits.load(ordering: .acquiring) }

    fileprivate func record() {
        deinits.add(1, ordering: .releasing)
    }
}

/// A reference-type context value that reports its own deinitialisation.
final class Tracked: Sendable, CustomStringConvertible {
    let label: String
    let counter: DeinitCounter

    init(_ label: String, _ counter: DeinitCounter) {
        self.label = label
        self.counter = counter
    }

    deinit {
        counter.record()
    }

    var description: String { "Tracked(\(label))" }
}

/// The figures that must return to their starting values once every scope,
/// snapshot and value a test made is gone. (`internedKeys` only grows, and
/// `bytesReserved` is memory the store keeps for reuse.)
struct LiveFigures: Equatable, CustomStringConvertible {
    var scopes: Int
    var roots: Int
    var nodes: Int
    var values: Int
    var bytesInUse: Int

    init(_ statistics: ContextStatistics = TaskContext.statistics) {
        scopes = statistics.liveScopes
        roots = statistics.liveRoots
        nodes = statistics.liveNodes
        values = statistics.liveValues
        bytesInUse = statistics.bytesInUse
    }

    var description: String {
        "scopes \(scopes), roots \(roots), nodes \(nodes), values \(values), bytes \(bytesInUse)"
    }
}

/// Polls `condition` (yielding and sleeping briefly between tries) until it
/// holds or `timeout` passes; returns whether it held.
func eventually(
    timeout: Duration = .seconds(5),
    _ condition: () -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while !condition() {
        if clock.now >= deadline { return condition() }
        await Task.yield()
        try? await Task.sleep(for: .milliseconds(1))
    }
    return true
}

// MARK: - Coordination

/// A value behind a lock, readable and writable from any task or thread.
///
/// The lock is an `NSLock` (a pthread mutex) rather than `Mutex`, whose
/// futex-based Linux implementation ThreadSanitizer cannot see, so that
/// `make tsan` reports no false races in these helpers.
final class Cell<Value: Sendable>: @unchecked Sendable {
    // Safe: `storage` is only touched under `lock`.
    private let lock = NSLock()
    private var storage: Value

    init(_ value: Value) {
        storage = value
    }

    var value: Value {
        get { mutate { $0 } }
        set { mutate { $0 = newValue } }
    }

    func mutate<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&storage)
    }
}

/// A one-shot async gate, built on continuations: `wait()` suspends until
/// `open()` is called, or returns at once if it already was. Any number of
/// tasks may wait.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Cell(State())

    init() {}

    func open() {
        let waiters = state.mutate { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.mutate { state -> Bool in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// Runs `body` on a new Foundation `Thread`, which runs no Swift task, and
/// returns its result once the thread has exited and its context is freed.
///
/// To know that, the thread stores a `Tracked` value in its own context
/// after `body` returns, and this waits (at most 5 s) for that value's
/// deinit, which the thread's exit causes. So no thread context of one test
/// outlives it into another's statistics. `stackSize` (bytes) replaces the
/// platform's default thread stack size.
func onPlainThread<T: Sendable>(
    stackSize: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () -> T
) async -> T {
    let exited = DeinitCounter()
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        let thread = Thread {
            let result = body()
            try? TaskContext.set(threadExitSentinel, Tracked("thread exit", exited))
            continuation.resume(returning: result)
        }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }
    if !(await eventually { exited.count == 1 }) {
        Issue.record("a thread's context was not freed when the thread exited", sourceLocation: sourceLocation)
    }
    return result
}

private let threadExitSentinel = ContextKey<Tracked>("support.thread-exit")

/// Whether the caller runs in a Swift task (false on a plain thread).
func runsInTask() -> Bool {
    withUnsafeCurrentTask { $0 != nil }
}

// MARK: - The fork probe

/// Keys of the fork probe.
let probeKey = ContextKey<String>("probe.value")
let probeInheritedKey = ContextKey<String>("probe.inherited")
let probeChildKey = ContextKey<String>("probe.child")

/// What the two sides of one fork saw, in the protocol of `probeFork`.
struct ForkObservation: Equatable, Sendable, CustomStringConvertible {
    /// The child's read of a key the parent set before the fork.
    var childSawInherited: String?
    /// The child's read of `probeKey`, which the parent overwrote after the
    /// child was created and before the child ran past its gate.
    var childSawProbe: String?
    /// The child's read of its own writes.
    var childSawOwnWrites: [String?]
    /// The parent's reads of `probeKey` and of `probeChildKey` once the child finished.
    var parentSawProbe: String?
    var parentSawChildKey: String?
    /// Any error a write threw, on either side.
    var errors: [String]

    /// What the semantics say a fork by `mode` shows.
    ///
    /// - `.copy`: the child's context is a snapshot taken at creation: it
    ///   misses the parent's later write, and its own writes stay its own.
    /// - `.chain`: the child reads through to the live parent, so it sees the
    ///   later write; its own writes stay in its layer.
    /// - `.share`: one context: the child sees the later write, and the
    ///   parent sees the child's writes.
    static func expected(for mode: Inheritance) -> ForkObservation {
        switch mode {
        case .copy:
            ForkObservation(
                childSawInherited: "inherited", childSawProbe: "parent-before",
                childSawOwnWrites: ["child", "child"],
                parentSawProbe: "parent-after", parentSawChildKey: nil, errors: [])
        case .chain:
            ForkObservation(
                childSawInherited: "inherited", childSawProbe: "parent-after",
                childSawOwnWrites: ["child", "child"],
                parentSawProbe: "parent-after", parentSawChildKey: nil, errors: [])
        case .share:
            ForkObservation(
                childSawInherited: "inherited", childSawProbe: "parent-after",
                childSawOwnWrites: ["child", "child"],
                parentSawProbe: "child", parentSawChildKey: "child", errors: [])
        }
    }

    var description: String {
        "inherited=\(childSawInherited ?? "nil") probe=\(childSawProbe ?? "nil") own=\(childSawOwnWrites) "
            + "parentProbe=\(parentSawProbe ?? "nil") parentChildKey=\(parentSawChildKey ?? "nil") errors=\(errors)"
    }
}

/// Runs the fork protocol in a new scope of the calling task:
///
/// 1. the parent sets `probeInheritedKey` and `probeKey` ("parent-before");
/// 2. `spawn` creates a child by `mode` that runs `child`, then calls
///    `afterCreation`, then waits for the child to finish;
/// 3. `afterCreation` (still before the child passes its gate) sets
///    `probeKey` to "parent-after" in the parent, then opens the gate;
/// 4. the child reads both keys, writes `probeKey` and `probeChildKey`, and
///    reads them back;
/// 5. the parent reads `probeKey` and `probeChildKey`.
func probeFork(
    _ mode: Inheritance,
    spawn: (
        _ mode: Inheritance, _ child: @escaping @Sendable () async -> Void, _ afterCreation: () -> Void
    ) async throws -> Void
) async throws -> ForkObservation {
    let gate = Gate()
    let seen = Cell(
        ForkObservation(
            childSawInherited: nil, childSawProbe: nil, childSawOwnWrites: [],
            parentSawProbe: nil, parentSawChildKey: nil, errors: []))
    let child: @Sendable () async -> Void = {
        await gate.wait()
        let inherited = TaskContext.get(probeInheritedKey)
        let probe = TaskContext.get(probeKey)
        var errors: [String] = []
        do {
            try TaskContext.set(probeKey, "child")
            try TaskContext.set(probeChildKey, "child")
        } catch {
            errors.append("child: \(error)")
        }
        await Task.yield()
        let own = [TaskContext.get(probeKey), TaskContext.get(probeChildKey)]
        seen.mutate {
            $0.childSawInherited = inherited
            $0.childSawProbe = probe
            $0.childSawOwnWrites = own
            $0.errors += errors
        }
    }
    try await TaskContext.run {
        try TaskContext.set(probeInheritedKey, "inherited")
        try TaskContext.set(probeKey, "parent-before")
        try await spawn(mode, child) {
            do {
                try TaskContext.set(probeKey, "parent-after")
            } catch {
                seen.mutate { $0.errors.append("parent: \(error)") }
            }
            gate.open()
        }
        let probe = TaskContext.get(probeKey)
        let childKey = TaskContext.get(probeChildKey)
        seen.mutate {
            $0.parentSawProbe = probe
            $0.parentSawChildKey = childKey
        }
    }
    return seen.value
}

/// Every inheritance mode, for parameterised tests.
let allModes: [Inheritance] = [.copy, .share, .chain]

/// The `ContextError` `body` throws, or nil if it throws none. An error of
/// another type is returned as nil too, so an expectation of a particular
/// `ContextError` fails on it.
func contextError(of body: () throws -> Void) -> ContextError? {
    do {
        try body()
        return nil
    } catch {
        return error as? ContextError
    }
}

// MARK: - A serial task executor

/// A task executor that runs its jobs one at a time, in order, on one
/// thread of its own.
///
/// Under `withTaskExecutorPreference(SerialExecutorThread.shared)` a parent
/// task and the children it adds to a task group run on that one thread, so
/// a child cannot start while its parent runs synchronous code: "created but
/// not yet run" is then certain, not a race. (An unstructured `Task { }`
/// does not inherit the preference, so this does not apply to it.)
final class SerialExecutorThread: TaskExecutor, @unchecked Sendable {
    // Safe: `jobs` is only touched under `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    static let shared = SerialExecutorThread()

    private init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "ContextStoreTests serial executor"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
