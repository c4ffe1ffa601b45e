import ContextStore
import Testing

// `TaskContext._derived` (package API, which ContextStoreLogging keeps its
// metadata with): a value is made once per version of the context and
// owner, and is handed back only to a call that asks for its exact class.

private final class Owner: Sendable {}

// Safe: its one stored property is a `let` of a Sendable type, and its
// subclass adds none.
private class Made: @unchecked Sendable {
    let text: String
    init(_ text: String) { self.text = text }
}

private final class OtherMade: Sendable {
    let text: String
    init(_ text: String) { self.text = text }
}

private final class SubMade: Made, @unchecked Sendable {}

private let key = ContextKey<String>("derived.key")

@Suite("Values derived from a context")
struct DerivedValueTests {
    @Test func aValueIsMadeOncePerVersionAndOwner() throws {
        let owner = Owner()
        var runs = 0
        try TaskContext.run {
            try TaskContext.set(key, "one")
            let first = TaskContext._derived(by: owner) { context in
                runs += 1
                return Made(context[key] ?? "")
            }
            let again = TaskContext._derived(by: owner) { _ in
                runs += 1
                return Made("not kept")
            }
            #expect(first?.text == "one")
            #expect(again === first)
            #expect(runs == 1)

            try TaskContext.set(key, "two")
            let afterWrite = TaskContext._derived(by: owner) { context in
                runs += 1
                return Made(context[key] ?? "")
            }
            #expect(afterWrite?.text == "two")
            #expect(runs == 2)
        }
    }

    @Test func aKeptValueIsHandedOutOnlyAsItsExactClass() throws {
        let owner = Owner()
        try TaskContext.run {
            try TaskContext.set(key, "v")
            let made = TaskContext._derived(by: owner) { _ in Made("made") }
            // The same owner asking for another class gets a value of that
            // class, made now, never the kept one cast.
            let other = TaskContext._derived(by: owner) { _ in OtherMade("other") }
            #expect(other?.text == "other")
            // A subclass of the kept value's class is another class too.
            let sub = TaskContext._derived(by: owner) { _ in SubMade("sub") }
            #expect(sub?.text == "sub")
            #expect(sub !== made)
            // Each is kept beside the others.
            let otherAgain = TaskContext._derived(by: owner) { _ in OtherMade("again") }
            let subAgain = TaskContext._derived(by: owner) { _ in SubMade("again") }
            let madeAgain = TaskContext._derived(by: owner) { _ in Made("again") }
            #expect(otherAgain === other)
            #expect(subAgain === sub)
            #expect(madeAgain === made)
            // Another owner has values of its own.
            #expect(TaskContext._derived(by: Owner()) { _ in Made("another owner") }?.text == "another owner")
        }
    }

    @Test func noScopeMeansNoValue() async {
        let value = await Task.detached { TaskContext._derived(by: Owner()) { _ in Made("x") } }.value
        #expect(value == nil)
    }
}
