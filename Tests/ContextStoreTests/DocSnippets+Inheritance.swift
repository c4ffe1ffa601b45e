import ContextStore
import Dispatch
import Testing

// Mirrors the snippets of InheritanceModes.md, in its order, and checks the
// one rule the article states that no other test covers.

private let user = ContextKey<String>("user")
private let locale = ContextKey<String>("locale")

private func childReadAfterParentWrite(_ mode: Inheritance) async throws -> String? {
    try await TaskContext.run {
        try TaskContext.set(user, "ada")
        let (parentWrote, done) = AsyncStream<Void>.makeStream()
        let child = Task(inheriting: mode) { () -> String? in
            for await _ in parentWrote {}
            return TaskContext.get(user)
        }
        try TaskContext.set(user, "bob")
        done.finish()
        return await child.value
    }
}

private func parentReadAfterChildWrite(_ mode: Inheritance) throws -> [String?] {
    try TaskContext.run {
        try TaskContext.set(user, "ada")
        try TaskContext.run(inheriting: mode) {
            try TaskContext.set(user, "bob")
            try TaskContext.set(locale, "fr_FR")
        }
        return [TaskContext.get(user), TaskContext.get(locale)]
    }
}

extension ContextStoreTests {
    @Suite("Documentation: InheritanceModes.md")
    struct InheritanceSnippetTests {
        @Test func theParentWritesAfterTheFork() async throws {
            #expect(try await childReadAfterParentWrite(.copy) == "ada")
            #expect(try await childReadAfterParentWrite(.share) == "bob")
            #expect(try await childReadAfterParentWrite(.chain) == "bob")
        }

        @Test func theChildWrites() throws {
            #expect(try parentReadAfterChildWrite(.copy) == ["ada", nil])
            #expect(try parentReadAfterChildWrite(.share) == ["bob", "fr_FR"])
            #expect(try parentReadAfterChildWrite(.chain) == ["ada", nil])
        }

        @Test func removeInAChainWritesATombstone() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(locale, "fr_FR")
                try TaskContext.run(inheriting: .chain) {
                    try TaskContext.remove(user)
                    #expect(TaskContext.get(user) == nil)
                    #expect(TaskContext.get(locale) == "fr_FR")
                    #expect(TaskContext.current.names == ["locale"])
                    try TaskContext.set(user, "bob")
                    #expect(TaskContext.get(user) == "bob")
                }
                #expect(TaskContext.get(user) == "ada")
            }
        }

        @Test func clearInAChainHidesEverythingInherited() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.run(inheriting: .chain) {
                    try TaskContext.clear()
                    #expect(TaskContext.get(user) == nil)
                    #expect(TaskContext.current.isEmpty)
                    try TaskContext.set(locale, "en_GB")
                    #expect(TaskContext.current.names == ["locale"])
                }
                #expect(TaskContext.get(user) == "ada")
            }
        }

        /// "`Task(inheriting: .share)` made off any task shares the thread's
        /// context": the task reads the thread's value, and its write is in
        /// the thread's context afterwards.
        @Test func aSharingTaskMadeOffAnyTaskSharesTheThreadsContext() async {
            let seen = await onPlainThread { () -> [String?] in
                try? TaskContext.set(user, "thread")
                let done = DispatchSemaphore(value: 0)
                let read = Cell<String?>(nil)
                Task(inheriting: .share) {
                    read.value = TaskContext.get(user)
                    try? TaskContext.set(locale, "from the task")
                    done.signal()
                }
                done.wait()
                return [read.value, TaskContext.get(locale)]
            }
            #expect(seen == ["thread", "from the task"])
        }
    }
}
