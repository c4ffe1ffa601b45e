import ContextStore
import Testing

// Mirrors the snippets of ComingFromAiotaskContext.md, in its order.

private let requestID = ContextKey<String>("request_id")
private let taskData = ContextKey<Int>("task_data")
private let user = ContextKey<String>("user")

private func child(_ n: Int) async throws -> String {
    try TaskContext.set(taskData, n)
    return "\(n): request_id=\(TaskContext.get(requestID) ?? "-") task_data=\(TaskContext.get(taskData) ?? 0)"
}

extension ContextStoreTests {
    @Suite("Documentation: ComingFromAiotaskContext.md")
    struct AiotaskContextSnippetTests {
        @Test func theSameProgramInBoth() async throws {
            try await TaskContext.run {
                try TaskContext.set(requestID, "7f0c2b4e")
                let first = Task(inheriting: .copy) { try await child(1) }
                let second = Task(inheriting: .copy) { try await child(2) }
                #expect(try await first.value == "1: request_id=7f0c2b4e task_data=1")
                #expect(try await second.value == "2: request_id=7f0c2b4e task_data=2")
                #expect(TaskContext.get(requestID) == "7f0c2b4e")
                #expect(TaskContext.get(taskData) == nil)
            }
        }

        @Test func aNestedScopeInsteadOfAToken() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.run {
                    try TaskContext.set(user, "bob")
                }
                #expect(TaskContext.get(user) == "ada")
            }
        }
    }
}
