import ContextStore
import ContextStoreLogging
import Logging
import Testing

// What the provider adds to a line: the chosen keys that are present, under
// their labels, converted as `ContextMetadataKey` documents.

private struct Opaque: Sendable {
    var id: Int
}

private struct Tenant: Sendable, CustomStringConvertible {
    var name: String
    var description: String { "tenant:\(name)" }
}

private let tenant = ContextKey<Tenant>("logging.tenant")
private let opaque = ContextKey<Opaque>("logging.opaque")
private let tags = ContextKey<Logger.MetadataValue>("logging.tags")

extension LoggingTests {
    @Suite("Metadata provider")
    struct MetadataProviderTests {
        @Test func addsTypedAndNamedKeysThatArePresent() throws {
            let log = CapturingLogger(.contextStore(.key(requestID), .name("logging.user_id"), .key(attempt)))
            try TaskContext.run {
                try TaskContext.set(requestID, "r-1")
                try TaskContext.set(userID, "ada")
                try TaskContext.set(attempt, 3)
                log.logger.info("both")
            }
            let metadata = try #require(log.metadata(of: "both"))
            #expect(metadata["logging.request_id"] == .string("r-1"))
            #expect(metadata["logging.user_id"] == .string("ada"))
            #expect(rendered(metadata["logging.attempt"]) == "3")
            #expect(metadata.count == 3)
        }

        @Test func absentKeysAddNothing() throws {
            let log = CapturingLogger(.contextStore(.key(requestID), "logging.user_id", .key(attempt)))
            try TaskContext.run {
                try TaskContext.set(requestID, "r-2")
                log.logger.info("one present")
            }
            TaskContext.run { log.logger.info("empty scope") }
            log.logger.info("no scope")

            #expect(log.metadata(of: "one present") == ["logging.request_id": .string("r-2")])
            #expect(log.metadata(of: "empty scope") == [:])
            #expect(log.metadata(of: "no scope") == [:])
        }

        @Test func aValueOfAnotherTypeIsNotReadByATypedKey() throws {
            let log = CapturingLogger(.contextStore(.key(attempt), .name("logging.attempt", as: "any")))
            try TaskContext.run {
                try TaskContext.set("logging.attempt", "three")
                log.logger.info("mistyped")
            }
            // The typed key reads nil; the name reads whatever is there.
            #expect(log.metadata(of: "mistyped") == ["any": .string("three")])
        }

        @Test func labelsRenameKeysAndTheLaterOfTwoEqualLabelsWins() throws {
            let log = CapturingLogger(.contextStore(.key(requestID, as: "rid"), .key(userID, as: "rid")))
            try TaskContext.run {
                try TaskContext.set(requestID, "r-3")
                log.logger.info("request only")
                try TaskContext.set(userID, "ada")
                log.logger.info("both")
            }
            #expect(log.metadata(of: "request only") == ["rid": .string("r-3")])
            #expect(log.metadata(of: "both") == ["rid": .string("ada")])
        }

        @Test func valuesBecomeMetadataAsDocumented() throws {
            let log = CapturingLogger(
                .contextStore(
                    .key(requestID), .key(attempt), .key(tenant), .key(opaque), .key(tags),
                    .name("logging.substring")))
            try TaskContext.run {
                try TaskContext.set(requestID, "r-4")
                try TaskContext.set(attempt, 42)
                try TaskContext.set(tenant, Tenant(name: "acme"))
                try TaskContext.set(opaque, Opaque(id: 7))
                try TaskContext.set(tags, .array([.string("a"), .string("b")]))
                try TaskContext.set("logging.substring", "abcdef".dropFirst(3))
                log.logger.info("converted")
            }
            let metadata = try #require(log.metadata(of: "converted"))
            // A String is `.string`; a MetadataValue is used as it is.
            #expect(metadata["logging.request_id"] == .string("r-4"))
            #expect(metadata["logging.tags"] == .array([.string("a"), .string("b")]))
            #expect(metadata["logging.substring"] == .string("def"))
            // A CustomStringConvertible is `.stringConvertible`, printed as its description.
            guard case .stringConvertible(let number) = metadata["logging.attempt"] else {
                Issue.record("attempt is \(String(describing: metadata["logging.attempt"]))")
                return
            }
            #expect(number.description == "42")
            guard case .stringConvertible(let named) = metadata["logging.tenant"] else {
                Issue.record("tenant is \(String(describing: metadata["logging.tenant"]))")
                return
            }
            #expect(named.description == "tenant:acme")
            // Anything else is `.string(String(describing:))`.
            #expect(metadata["logging.opaque"] == .string(String(describing: Opaque(id: 7))))
        }

        /// A key read by name (its value an `any Sendable`) becomes the
        /// metadata the documented rules give, of the right case, and the
        /// same as a typed key of the value's own type: every way a value
        /// is stored (tagged in the word, boxed, a class instance, and boxed
        /// as an `any Sendable` by a `ContextKey<any Sendable>`).
        @Test func aNameConvertsItsValueAsTheRulesSay() throws {
            final class Named: Sendable, CustomStringConvertible {
                var description: String { "named" }
            }
            // Each value, and its metadata by the rules (case and text).
            let values: [(name: String, value: any Sendable, rule: String)] = [
                ("short", "ab", "string ab"),
                ("long", "a string too long for the stored word", "string a string too long for the stored word"),
                ("int", 42, "convertible 42"), ("negative", -7, "convertible -7"),
                ("huge", Int.max, "convertible \(Int.max)"), ("bool", true, "convertible true"),
                ("double", 2.5, "convertible 2.5"), ("tenant", Tenant(name: "acme"), "convertible tenant:acme"),
                ("opaque", Opaque(id: 9), "string \(String(describing: Opaque(id: 9)))"),
                ("object", Named(), "convertible named"),
                ("metadata", Logger.MetadataValue.array([.string("x")]), "array [x]"),
                ("substring", "xyz".dropFirst(), "string yz"),
            ]
            // Written through a key of any value: boxed as `any Sendable`.
            let anyValues: [(name: String, value: any Sendable, rule: String)] = [
                ("any-int", 5, "convertible 5"),
                ("any-string", "a string held as any Sendable", "string a string held as any Sendable"),
                ("any-object", Named(), "convertible named"),
            ]
            func typedKey<Value: Sendable>(_ name: String, _: Value) -> ContextMetadataKey {
                .key(ContextKey<Value>("logging.as.\(name)"), as: name)
            }
            let byName = CapturingLogger(
                .contextStore((values + anyValues).map { .name("logging.as.\($0.name)", as: $0.name) }))
            let typed = CapturingLogger(.contextStore(values.map { typedKey($0.name, $0.value) }))
            try TaskContext.run {
                for (name, value, _) in values { try TaskContext.set("logging.as.\(name)", value) }
                for (name, value, _) in anyValues {
                    try TaskContext.set(ContextKey<any Sendable>("logging.as.\(name)"), value)
                }
                byName.logger.info("line")
                typed.logger.info("line")
            }
            let named = try #require(byName.metadata(of: "line"))
            let expected = try #require(typed.metadata(of: "line"))
            /// The case and the text: `==` would call `.string("42")` and
            /// `.stringConvertible(42)` equal.
            func shape(_ value: Logger.MetadataValue?) -> String {
                switch value {
                case .string(let string): "string \(string)"
                case .stringConvertible(let convertible): "convertible \(convertible.description)"
                case .array(let array): "array \(array)"
                case .dictionary(let dictionary): "dictionary \(dictionary)"
                case nil: "absent"
                }
            }
            #expect(named.count == values.count + anyValues.count)
            for (name, _, rule) in values + anyValues {
                #expect(shape(named[name]) == rule, "\(name) by name")
            }
            for (name, _, rule) in values {
                #expect(shape(expected[name]) == rule, "\(name) by a typed key")
            }
        }

        @Test func aTransformChoosesTheMetadataAndMayOmitTheKey() throws {
            let log = CapturingLogger(
                .contextStore(
                    .key(tenant, as: "tenant") { $0.name == "hidden" ? nil : .string($0.name.uppercased()) }))
            try TaskContext.run {
                try TaskContext.set(tenant, Tenant(name: "acme"))
                log.logger.info("shown")
                try TaskContext.set(tenant, Tenant(name: "hidden"))
                log.logger.info("hidden")
            }
            #expect(log.metadata(of: "shown") == ["tenant": .string("ACME")])
            #expect(log.metadata(of: "hidden") == [:])
        }

        @Test func explicitMetadataOnTheLineStillWins() throws {
            let log = CapturingLogger(.contextStore(.key(requestID)))
            try TaskContext.run {
                try TaskContext.set(requestID, "from context")
                log.logger.info("explicit", metadata: ["logging.request_id": "from the call"])
            }
            #expect(log.metadata(of: "explicit") == ["logging.request_id": .string("from the call")])
        }

        @Test func keysExposeTheirNames() {
            let key = ContextMetadataKey.name("logging.user_id", as: "user")
            #expect(key.contextName == "logging.user_id")
            #expect(key.label == "user")
            let typed = ContextMetadataKey.key(attempt)
            #expect(typed.contextName == "logging.attempt")
            #expect(typed.label == "logging.attempt")
            let literal: ContextMetadataKey = "logging.request_id"
            #expect(literal.contextName == "logging.request_id")
            #expect(literal.label == "logging.request_id")
        }
    }
}
