import ContextStore
import Dispatch
import Foundation
import Testing

// Code on a thread that runs no task, with no scope open, has a context of
// its own, like Python's threading.local, freed when the thread exits.
//
// Expectations are checked back in the test's task: the threads only record
// what they saw.

private let name = ContextKey<String>("thread.name")
private let other = ContextKey<String>("thread.other")
private let held = ContextKey<Tracked>("thread.held")

/// What one of two racing threads saw.
private struct ThreadView: Equatable, Sendable {
    var inTask: Bool
    var before: String?
    var afterBothWrote: String?
    var afterOtherRemoved: String?
    var error: ContextError?
}

extension ContextStoreTests {
    @Suite("Thread contexts")
    struct ThreadContextTests {
        @Test func twoThreadsNeverSeeEachOthersValues() async {
            // Both threads write the same key, wait until both have, read it,
            // then the first removes its value and clears; the second's stays.
            let firstWrote = DispatchSemaphore(value: 0)
            let secondWrote = DispatchSemaphore(value: 0)
            let firstCleared = DispatchSemaphore(value: 0)

            async let first = onPlainThread { () -> ThreadView in
                var view = ThreadView(inTask: runsInTask())
                view.before = TaskContext.get(name)
                view.error = contextError {
                    try TaskContext.set(name, "first")
                    try TaskContext.set(other, "first")
                }
                firstWrote.signal()
                secondWrote.wait()
                view.afterBothWrote = TaskContext.get(name)
                if view.error == nil {
                    view.error = contextError {
                        try TaskContext.remove(name)
                        try TaskContext.clear()
                    }
                }
                firstCleared.signal()
                view.afterOtherRemoved = TaskContext.get(other)
                return view
            }
            async let second = onPlainThread { () -> ThreadView in
                var view = ThreadView(inTask: runsInTask())
                firstWrote.wait()
                view.before = TaskContext.get(name)
                view.error = contextError { try TaskContext.set(name, "second") }
                secondWrote.signal()
                view.afterBothWrote = TaskContext.get(name)
                firstCleared.wait()
                view.afterOtherRemoved = TaskContext.get(name)
                return view
            }

            let (one, two) = await (first, second)
            #expect(one == ThreadView(inTask: false, before: nil, afterBothWrote: "first", afterOtherRemoved: nil))
            #expect(
                two == ThreadView(inTask: false, before: nil, afterBothWrote: "second", afterOtherRemoved: "second"))
        }

        @Test func aThreadDoesNotSeeTheScopeOfTheTaskThatStartedIt() async throws {
            let seen = try await TaskContext.run { () async throws -> [String?] in
                try TaskContext.set(name, "task")
                return await onPlainThread { [TaskContext.get(name), TaskContext.current.names.first] }
            }
            #expect(seen == [nil, nil])
        }

        @Test func aThreadsContextPersistsAcrossCallsOnThatThread() async {
            let seen = await onPlainThread { () -> [String?] in
                func write() { try? TaskContext.set(name, "kept") }
                func read() -> String? { TaskContext.get(name) }
                write()
                let snapshot = TaskContext.current
                return [read(), snapshot[name], TaskContext.get("thread.name") as? String]
            }
            #expect(seen == ["kept", "kept", "kept"])
        }

        @Test func aThreadsContextIsFreedWhenTheThreadExits() async {
            let counter = DeinitCounter()
            let stored = DispatchSemaphore(value: 0)
            let exit = DispatchSemaphore(value: 0)
            let thread = Thread {
                try? TaskContext.set(held, Tracked("thread", counter))
                stored.signal()
                exit.wait()
            }
            thread.start()
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    stored.wait()
                    done.resume()
                }
            }
            // The thread is alive and its context holds the value.
            try? await Task.sleep(for: .milliseconds(20))
            #expect(counter.count == 0)

            exit.signal()
            #expect(await eventually { counter.count == 1 }, "the thread's context was not freed when it exited")
        }

        @Test func runOnAThreadStartsFromTheThreadsContextByItsMode() async {
            let seen = await onPlainThread { () -> [String: [String?]] in
                try? TaskContext.set(name, "thread")
                var seen: [String: [String?]] = [:]
                seen["copy"] = TaskContext.run(inheriting: .copy) {
                    let inherited = TaskContext.get(name)
                    try? TaskContext.set(name, "copy")
                    try? TaskContext.set(other, "copy")
                    return [inherited, TaskContext.get(name)]
                }
                seen["after copy"] = [TaskContext.get(name), TaskContext.get(other)]
                seen["chain"] = TaskContext.run(inheriting: .chain) {
                    let inherited = TaskContext.get(name)
                    try? TaskContext.set(other, "chain")
                    try? TaskContext.remove(name)
                    return [inherited, TaskContext.get(name), TaskContext.get(other)]
                }
                seen["after chain"] = [TaskContext.get(name), TaskContext.get(other)]
                seen["share"] = TaskContext.run(inheriting: .share) {
                    let inherited = TaskContext.get(name)
                    try? TaskContext.set(other, "share")
                    return [inherited]
                }
                seen["after share"] = [TaskContext.get(name), TaskContext.get(other)]
                return seen
            }
            #expect(seen["copy"] == ["thread", "copy"])
            #expect(seen["after copy"] == ["thread", nil])
            #expect(seen["chain"] == ["thread", nil, "chain"])
            #expect(seen["after chain"] == ["thread", nil])
            #expect(seen["share"] == ["thread"])
            #expect(seen["after share"] == ["thread", "share"])
        }

        @Test func aScopeOpenedOnAThreadReleasesItsValuesWhenItEnds() async {
            let counter = DeinitCounter()
            let countAfterRun = await onPlainThread { () -> Int in
                TaskContext.run {
                    try? TaskContext.set(held, Tracked("scope on a thread", counter))
                }
                return counter.count
            }
            #expect(countAfterRun == 1)
        }

        @Test func aSnapshotCarriesAThreadsContextToATask() async throws {
            let snapshot = await onPlainThread { () -> TaskContext in
                try? TaskContext.set(name, "from a thread")
                return TaskContext.current
            }
            let seen = await Task.detached { TaskContext.run(with: snapshot) { TaskContext.get(name) } }.value
            #expect(seen == "from a thread")
        }
    }
}
