import ContextStore
import Foundation
import Testing

// get / set / remove / clear, typed and string keys, the no-scope rules, and
// the `TaskContext` value API (snapshots, subscripts, `run(with:)`).
//
// A Swift Testing test function runs in a task that is in no context scope,
// so the bare test body is itself the "task in no scope" case.

private let user = ContextKey<String>("basic.user")
private let attempt = ContextKey<Int>("basic.attempt")
private let locale = ContextKey<String>("basic.locale")

/// A name no code of this target interns before the test that uses it.
private func freshName(_ label: String) -> String {
    "basic.fresh.\(label).\(UUID().uuidString)"
}

private class Animal: @unchecked Sendable {
    let name: String
    init(name: String) { self.name = name }
}

private final class Dog: Animal, @unchecked Sendable {}

private struct Boom: Error, Equatable {}

extension ContextStoreTests {
    @Suite("get, set, remove, clear")
    struct BasicTests {
        // MARK: Reading what is not there

        @Test func missingKeysReadAsNilOrTheDefault() throws {
            try TaskContext.run {
                #expect(TaskContext.get(user) == nil)
                #expect(TaskContext.get(user, default: "nobody") == "nobody")
                #expect(TaskContext.get("basic.user") == nil)
                #expect(TaskContext.get("basic.user", default: 3) == 3)

                let never = freshName("missing")
                #expect(TaskContext.get(never) == nil)
                #expect(TaskContext.get(never, default: "d") == "d")
                #expect(TaskContext.get(ContextKey<Int>(never)) == nil)
                #expect(TaskContext.current.isEmpty)

                try TaskContext.set(attempt, 1)
                #expect(TaskContext.get(user) == nil, "another key's value is not this key's")
            }
        }

        // MARK: Writing

        @Test func setThenGet() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(attempt, 2)
                #expect(TaskContext.get(user) == "ada")
                #expect(TaskContext.get(user, default: "nobody") == "ada")
                #expect(TaskContext.get(attempt) == 2)
                #expect(TaskContext.current.count == 2)
            }
        }

        @Test func settingTwiceReplacesTheValue() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(user, "bob")
                #expect(TaskContext.get(user) == "bob")
                #expect(TaskContext.current.count == 1)

                try TaskContext.set("basic.user", "eve")
                #expect(TaskContext.get(user) == "eve")
                #expect(TaskContext.current.count == 1)
            }
        }

        @Test func removeDeletesOnlyThatKey() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(attempt, 1)
                try TaskContext.remove(user)
                #expect(TaskContext.get(user) == nil)
                #expect(TaskContext.get(attempt) == 1)

                // Removing what is not there is not an error and changes nothing.
                try TaskContext.remove(user)
                try TaskContext.remove(freshName("remove"))
                try TaskContext.remove(ContextKey<Int>(freshName("remove-typed")))
                #expect(TaskContext.current.names == ["basic.attempt"])

                try TaskContext.remove("basic.attempt")
                #expect(TaskContext.get(attempt) == nil)
                #expect(TaskContext.current.isEmpty)
            }
        }

        @Test func clearRemovesEveryKeyAndTheScopeStaysWritable() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(attempt, 1)
                try TaskContext.set("basic.other", 3.5)
                try TaskContext.clear()
                #expect(TaskContext.get(user) == nil)
                #expect(TaskContext.get(attempt) == nil)
                #expect(TaskContext.get("basic.other") == nil)
                #expect(TaskContext.current.isEmpty)

                try TaskContext.clear()  // clearing an empty context is fine
                try TaskContext.set(user, "bob")
                #expect(TaskContext.get(user) == "bob")
                #expect(TaskContext.current.count == 1)
            }
        }

        @Test func anyStringIsAKeyName() throws {
            let empty = ContextKey<String>("")
            let unicode = ContextKey<String>("clé/🔑 with spaces")
            try TaskContext.run {
                try TaskContext.set(empty, "empty")
                try TaskContext.set(unicode, "unicode")
                #expect(TaskContext.get(empty) == "empty")
                #expect(TaskContext.get(unicode) == "unicode")
                #expect(TaskContext.get("") as? String == "empty")
                #expect(TaskContext.current.names == ["", "clé/🔑 with spaces"])
            }
        }

        // MARK: Typed and string keys

        @Test func typedAndStringKeysWithTheSameNameAreOneEntry() throws {
            try TaskContext.run {
                let requestID = ContextKey<String>("request_id")
                try TaskContext.set(requestID, "4bf92f35")
                #expect(TaskContext.get("request_id") as? String == "4bf92f35")
                #expect(TaskContext.get("request_id", default: "none") == "4bf92f35")

                try TaskContext.set("request_id", "77aa01")
                #expect(TaskContext.get(requestID) == "77aa01")
                #expect(TaskContext.current.count == 1)

                try TaskContext.remove("request_id")
                #expect(TaskContext.get(requestID) == nil)
                try TaskContext.set("request_id", "x")
                try TaskContext.remove(requestID)
                #expect(TaskContext.get("request_id") == nil)
            }
        }

        @Test func aStringWriteIsReadableThroughATypedKey() throws {
            try TaskContext.run {
                let value: any Sendable = 42
                try TaskContext.set("basic.answer", value)
                #expect(TaskContext.get(ContextKey<Int>("basic.answer")) == 42)
                #expect(TaskContext.get("basic.answer", default: 0) == 42)
            }
        }

        @Test func aTypedReadOfAnotherTypeIsNil() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                let asInt = ContextKey<Int>("basic.user")
                #expect(TaskContext.get(asInt) == nil)
                #expect(TaskContext.get(asInt, default: 7) == 7)
                #expect(TaskContext.get("basic.user", default: 7) == 7)
                #expect(TaskContext.get(ContextKey<[String]>("basic.user")) == nil)
                // The mismatched reads changed nothing.
                #expect(TaskContext.get(user) == "ada")
            }
        }

        @Test func aTypedReadSucceedsForAnyTypeTheValueCastsTo() throws {
            try TaskContext.run {
                try TaskContext.set(ContextKey<Dog>("basic.pet"), Dog(name: "rex"))
                #expect(TaskContext.get(ContextKey<Animal>("basic.pet"))?.name == "rex")
                #expect(TaskContext.get(ContextKey<any Sendable>("basic.pet")) is Dog)
                #expect(TaskContext.get(ContextKey<Int>("basic.pet")) == nil)
            }
        }

        // MARK: No scope

        @Test func aTestRunsInATaskThatIsInNoScope() {
            #expect(runsInTask())
            #expect(TaskContext.current.isEmpty)
        }

        @Test func inNoScopeReadsAreNilAndWritesThrowNoScope() {
            #expect(TaskContext.get(user) == nil)
            #expect(TaskContext.get(user, default: "d") == "d")
            #expect(TaskContext.get("basic.user") == nil)
            #expect(TaskContext.get("basic.user", default: 1) == 1)

            #expect(throws: ContextError.noScope(key: "basic.user")) { try TaskContext.set(user, "ada") }
            #expect(throws: ContextError.noScope(key: "basic.user")) { try TaskContext.set("basic.user", "ada") }
            #expect(throws: ContextError.noScope(key: "basic.user")) { try TaskContext.remove(user) }
            #expect(throws: ContextError.noScope(key: "basic.user")) { try TaskContext.remove("basic.user") }
            #expect(throws: ContextError.noScope(key: "*")) { try TaskContext.clear() }

            // A name nobody has interned yet is reported the same way.
            let never = freshName("noscope")
            #expect(throws: ContextError.noScope(key: never)) { try TaskContext.set(never, 1) }
            #expect(throws: ContextError.noScope(key: never)) { try TaskContext.remove(never) }
            #expect(throws: ContextError.noScope(key: never)) { try TaskContext.remove(ContextKey<Int>(never)) }

            // Nothing was stored anywhere by the failed writes.
            #expect(TaskContext.get(user) == nil)
            #expect(TaskContext.current.isEmpty)
        }

        @Test func aScopeEndsWithItsRun() throws {
            try TaskContext.run { try TaskContext.set(user, "ada") }
            #expect(TaskContext.get(user) == nil)
            #expect(throws: ContextError.noScope(key: "basic.user")) { try TaskContext.set(user, "bob") }
        }

        @Test func noScopeErrorsDescribeTheKey() {
            let error = ContextError.noScope(key: "basic.user")
            #expect(error.description.contains("\"basic.user\""))
            #expect(error != ContextError.noScope(key: "other"))
            #expect(error != ContextError.allocationFailed)
            #expect(!ContextError.allocationFailed.description.isEmpty)
        }

        // MARK: run

        @Test func runReturnsWhatItsBodyReturns() async throws {
            let sync = try TaskContext.run { () throws -> String in
                try TaskContext.set(user, "ada")
                return TaskContext.get(user) ?? "-"
            }
            #expect(sync == "ada")

            let async = try await TaskContext.run { () async throws -> Int in
                try TaskContext.set(attempt, 3)
                await Task.yield()
                return TaskContext.get(attempt) ?? 0
            }
            #expect(async == 3)
        }

        @Test func runRethrowsAndItsScopeEnds() async {
            #expect(throws: Boom()) {
                try TaskContext.run {
                    try TaskContext.set(user, "ada")
                    throw Boom()
                }
            }
            #expect(TaskContext.get(user) == nil)

            await #expect(throws: Boom()) {
                try await TaskContext.run {
                    try TaskContext.set(user, "ada")
                    await Task.yield()
                    throw Boom()
                }
            }
            #expect(TaskContext.get(user) == nil)
        }

        @Test func aValueSurvivesSuspensionPoints() async throws {
            try await TaskContext.run {
                try TaskContext.set(user, "ada")
                await Task.yield()
                try await Task.sleep(for: .milliseconds(2))
                #expect(TaskContext.get(user) == "ada")
            }
        }

        // MARK: ContextKey

        @Test func keysAreEqualWhenTheirNamesAre() {
            #expect(ContextKey<Int>("a") == ContextKey<Int>("a"))
            #expect(ContextKey<Int>("a") != ContextKey<Int>("b"))
            #expect(Set([ContextKey<Int>("a"), ContextKey<Int>("a"), ContextKey<Int>("b")]).count == 2)
            #expect(ContextKey<Int>("retries").name == "retries")
            #expect(ContextKey<Int>("retries").description == "ContextKey<Int>(\"retries\")")
        }
    }

    @Suite("TaskContext values: snapshots, subscripts, run(with:)")
    struct ContextValueTests {
        @Test func anEmptyContext() {
            let ctx = TaskContext()
            #expect(ctx.isEmpty)
            #expect(ctx.count == 0)
            #expect(ctx.names == [])
            #expect(ctx.entries.isEmpty)
            #expect(ctx[user] == nil)
            #expect(ctx["basic.user"] == nil)
        }

        @Test func typedSubscriptSetsReplacesAndRemoves() {
            var ctx = TaskContext()
            ctx[user] = "ada"
            ctx[attempt] = 1
            #expect(ctx[user] == "ada")
            #expect(ctx[attempt] == 1)
            #expect(ctx.count == 2)
            #expect(!ctx.isEmpty)

            ctx[user] = "bob"
            #expect(ctx[user] == "bob")
            #expect(ctx.count == 2)

            ctx[user] = nil
            #expect(ctx[user] == nil)
            #expect(ctx.count == 1)
            #expect(ctx.names == ["basic.attempt"])
        }

        @Test func stringSubscriptIsTheSameEntryAsTheTypedOne() {
            var ctx = TaskContext()
            ctx["basic.user"] = "ada"
            #expect(ctx[user] == "ada")
            #expect(ctx["basic.user"] as? String == "ada")
            #expect(ctx[ContextKey<Int>("basic.user")] == nil)

            ctx[user] = "bob"
            #expect(ctx["basic.user"] as? String == "bob")

            ctx["basic.user"] = nil
            #expect(ctx[user] == nil)
            #expect(ctx.isEmpty)
        }

        @Test func namesAndEntriesAreSortedByName() {
            var ctx = TaskContext()
            ctx["basic.z"] = 3
            ctx["basic.a"] = 1
            ctx["basic.m"] = 2
            #expect(ctx.names == ["basic.a", "basic.m", "basic.z"])
            #expect(ctx.entries.map(\.name) == ["basic.a", "basic.m", "basic.z"])
            #expect(ctx.entries.compactMap { $0.value as? Int } == [1, 2, 3])
            #expect(ctx.description.contains("\"basic.m\": 2"))
        }

        @Test func aValueIsPersistent() throws {
            let base = try TaskContext().setting(user, "ada")
            let more = try base.setting(attempt, 2)
            let renamed = try more.setting("basic.user", "bob")
            let fewer = try renamed.removing(attempt)
            let none = try fewer.removing("basic.user")

            #expect(base.names == ["basic.user"])
            #expect(base[user] == "ada")
            #expect(more[user] == "ada")
            #expect(more[attempt] == 2)
            #expect(renamed[user] == "bob")
            #expect(renamed[attempt] == 2)
            #expect(fewer[user] == "bob")
            #expect(fewer[attempt] == nil)
            #expect(none.isEmpty)

            // Removing what is not there gives an equal context.
            #expect(try base.removing(attempt).names == base.names)
            #expect(try base.removing(freshName("removing")).names == base.names)

            // A copy of the value written through a subscript leaves the original alone.
            var copy = more
            copy[user] = "eve"
            #expect(more[user] == "ada")
            #expect(copy[user] == "eve")
        }

        @Test func currentIsASnapshotUnaffectedByLaterWrites() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                try TaskContext.set(attempt, 1)
                let snapshot = TaskContext.current
                try TaskContext.set(user, "bob")
                try TaskContext.remove(attempt)
                try TaskContext.set(locale, "fr_FR")

                #expect(snapshot.names == ["basic.attempt", "basic.user"])
                #expect(snapshot[user] == "ada")
                #expect(snapshot[attempt] == 1)
                #expect(snapshot[locale] == nil)

                try TaskContext.clear()
                #expect(snapshot.count == 2)
            }
        }

        @Test func writingToASnapshotLeavesTheScopeAlone() throws {
            try TaskContext.run {
                try TaskContext.set(user, "ada")
                var snapshot = TaskContext.current
                snapshot[user] = "bob"
                snapshot[attempt] = 9
                #expect(TaskContext.get(user) == "ada")
                #expect(TaskContext.get(attempt) == nil)
                #expect(snapshot[user] == "bob")
            }
        }

        @Test func runWithStartsFromTheSnapshotAndIsIsolatedFromIt() async throws {
            var seed = TaskContext()
            seed[user] = "ada"

            // Works from a task in no scope.
            let inner = try TaskContext.run(with: seed) { () throws -> TaskContext in
                #expect(TaskContext.get(user) == "ada")
                try TaskContext.set(attempt, 1)
                try TaskContext.set(user, "bob")
                return TaskContext.current
            }
            #expect(inner[user] == "bob")
            #expect(inner[attempt] == 1)
            #expect(seed[user] == "ada")
            #expect(seed[attempt] == nil)
            #expect(TaskContext.get(user) == nil, "the scope ended with run(with:)")

            // Inside a scope, run(with:) replaces the context; the outer scope is untouched.
            try await TaskContext.run {
                try TaskContext.set(locale, "fr_FR")
                try await TaskContext.run(with: seed) {
                    #expect(TaskContext.get(locale) == nil)
                    #expect(TaskContext.get(user) == "ada")
                    await Task.yield()
                    try TaskContext.set(user, "eve")
                    #expect(TaskContext.get(user) == "eve")
                }
                #expect(TaskContext.get(locale) == "fr_FR")
                #expect(TaskContext.get(user) == nil)
            }
            #expect(seed[user] == "ada")
        }

        @Test func aSnapshotCarriesTheContextIntoADetachedTask() async throws {
            let seen = try await TaskContext.run { () async throws -> String? in
                try TaskContext.set(user, "ada")
                let snapshot = TaskContext.current
                return await Task.detached {
                    TaskContext.run(with: snapshot) { TaskContext.get(user) }
                }.value
            }
            #expect(seen == "ada")
        }
    }
}
