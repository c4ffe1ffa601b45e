import ContextStore
import Dispatch
import Testing

// Mirrors the snippets of GettingStarted.md, in its order. The keys declared
// here serve the other mirror files too.

extension ContextKey where Value == String {
    static let requestID = ContextKey("request_id")
    static let user = ContextKey("user")
}

extension ContextKey where Value == Int {
    static let attempt = ContextKey("attempt")
}

private struct Request: Sendable {
    let id: String
    let user: String
}

private struct Response: Sendable {
    let body: String
}

private func handle(_ request: Request) async throws -> Response {
    try await TaskContext.run {
        try TaskContext.set(.requestID, request.id)
        try TaskContext.set(.user, request.user)
        return try await respond(to: request)
    }
}

private func respond(to request: Request) async throws -> Response {
    let who = TaskContext.get(.user) ?? "anonymous"
    return Response(body: "hello \(who), request \(TaskContext.get(.requestID) ?? "-")")
}

private func setUser() -> String {
    do {
        try TaskContext.set(.user, "ada")
        return "set"
    } catch ContextError.noScope(let key) {
        return "no scope for \(key)"
    } catch {
        return "out of memory"
    }
}

extension ContextStoreTests {
    @Suite("Documentation: GettingStarted.md")
    struct GettingStartedSnippetTests {
        @Test func aScopePerRequest() async throws {
            let response = try await handle(Request(id: "r-1", user: "ada"))
            #expect(response.body == "hello ada, request r-1")
            #expect(TaskContext.get(.requestID) == nil)
        }

        @Test func readAndWrite() throws {
            try TaskContext.run {
                try TaskContext.set(.attempt, 1)
                #expect(TaskContext.get(.attempt) == 1)
                try TaskContext.remove(.attempt)
                #expect(TaskContext.get(.attempt, default: 0) == 0)
                try TaskContext.set("tenant", "acme")
                #expect(TaskContext.get("tenant") as? String == "acme")
                #expect(TaskContext.get(ContextKey<Int>("tenant")) == nil)
                try TaskContext.clear()
                #expect(TaskContext.current.isEmpty)
            }
        }

        @Test func outsideAnyScope() {
            #expect(setUser() == "no scope for user")
            #expect(TaskContext.run { setUser() } == "set")
        }

        @Test func childTasks() async throws {
            try await TaskContext.run {
                try TaskContext.set(.user, "ada")
                try await Task { try TaskContext.set(.attempt, 2) }.value
                #expect(TaskContext.get(.attempt) == 2)
                let forked = Task(inheriting: .copy) {
                    try TaskContext.set(.user, "bob")
                    return TaskContext.get(.user)
                }
                #expect(try await forked.value == "bob")
                #expect(TaskContext.get(.user) == "ada")
            }
        }

        @Test func carryAContextAcrossCallbacks() async throws {
            try await TaskContext.run {
                try TaskContext.set(.requestID, "r-2")
                let snapshot = TaskContext.current
                let seen = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                    DispatchQueue.global().async {
                        TaskContext.run(with: snapshot) {
                            continuation.resume(returning: TaskContext.get(.requestID))
                        }
                    }
                }
                #expect(seen == "r-2")
            }
        }
    }
}
