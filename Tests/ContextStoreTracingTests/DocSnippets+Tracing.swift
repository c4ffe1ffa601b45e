import ContextStore
import ContextStoreTracing
import Instrumentation
import ServiceContextModule
import Testing

// Mirrors the baggage and ServiceContext snippets of PropagatingContext.md
// (in the ContextStore catalog; see DocumentationSnippetTests), in order.

extension TracingTests {
    @Suite("Documentation: PropagatingContext.md, baggage and ServiceContext")
    struct TracingSnippetTests {
        struct DictionaryInjector: Injector {
            func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
                carrier[key] = value
            }
        }

        struct DictionaryExtractor: Extractor {
            func extract(key: String, from carrier: [String: String]) -> String? {
                carrier[key]
            }
        }

        enum RequestIDKey: ServiceContextKey {
            typealias Value = String
        }

        @Test func theHeaderAndTheReceivedContext() throws {
            let requestID = ContextKey<String>("request_id")
            let attempt = ContextKey<Int>("attempt")
            let baggage = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt, as: "retry-attempt"))

            try TaskContext.run {
                try TaskContext.set(requestID, "7f0c 2b4e")
                try TaskContext.set(attempt, 2)
                #expect(baggage.header() == "request_id=7f0c%202b4e,retry-attempt=2")
            }

            let received = baggage.context(fromHeader: "request_id=7f0c2b4e, retry-attempt=3, other=1")
            #expect(received[requestID] == "7f0c2b4e")
            #expect(received[attempt] == 3)
            #expect(received.count == 2)
        }

        @Test func headersOfAnyHTTPLibrary() throws {
            let requestID = ContextKey<String>("request_id")
            let attempt = ContextKey<Int>("attempt")
            let baggage = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt, as: "retry-attempt"))

            var headers: [String: String] = [:]
            try TaskContext.run {
                try TaskContext.set(requestID, "7f0c2b4e")
                baggage.inject(into: &headers, using: DictionaryInjector())
            }
            #expect(headers["baggage"] == "request_id=7f0c2b4e")

            baggage.run(extractingFrom: headers, using: DictionaryExtractor()) {
                #expect(TaskContext.get(requestID) == "7f0c2b4e")
            }
        }

        /// The rules the article lists under "What crosses, and what is dropped".
        @Test func whatCrossesAndWhatIsDropped() throws {
            let requestID = ContextKey<String>("request_id")
            let attempt = ContextKey<Int>("attempt")
            let baggage = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt, as: "retry-attempt"))

            #expect(throws: BaggageError.invalidKey("request id")) {
                try W3CBaggagePropagator(propagating: .key(requestID, as: "request id"))
            }
            #expect(throws: BaggageError.duplicateKey("k")) {
                try W3CBaggagePropagator(propagating: .key(requestID, as: "k"), .key(attempt, as: "k"))
            }
            var headers: [String: String] = [:]
            try TaskContext.run {
                try TaskContext.set("tenant", "acme")  // not listed: never sent
                baggage.inject(into: &headers, using: DictionaryInjector())
                #expect(headers.isEmpty, "no listed key present, so no header")
                try TaskContext.set(attempt, 2)
                baggage.inject(into: &headers, using: DictionaryInjector())
                #expect(headers == ["baggage": "retry-attempt=2"])
            }
            let received = baggage.context(fromHeader: "retry-attempt=abc;p=1, request_id=a;p=1, =bad, request_id=b")
            #expect(received[attempt] == nil, "rejected by Int's decoder")
            #expect(received[requestID] == "b", "the last of two wins; properties and malformed members dropped")
            #expect(received.count == 1)
        }

        /// "Keys, values and other implementations".
        @Test func keysValuesAndOtherImplementations() {
            let fromPython = W3CBaggage.parse("user+id=Am%C3%A9lie,serverNode=DF+28")
            #expect(fromPython[0].key == "user+id")
            #expect(fromPython[1].value == "DF+28")
            #expect(W3CBaggage.serialize([.init(key: "serverNode", value: "DF 28")]) == "serverNode=DF%2028")
            #expect(W3CBaggage.serialize([.init(key: "sum", value: "1+1")]) == "sum=1%2B1")

            #expect(W3CBaggage.serialize(fromPython) == "user+id=Am%C3%A9lie,serverNode=DF+28")
        }

        @Test func fromContextStoreToAServiceContext() throws {
            let requestID = ContextKey<String>("request_id")

            let bridge = ServiceContextBridge().mapping(requestID, to: RequestIDKey.self)

            try TaskContext.run {
                try TaskContext.set(requestID, "7f0c2b4e")
                let serviceContext = bridge.serviceContext()
                #expect(serviceContext[RequestIDKey.self] == "7f0c2b4e")
                ServiceContext.withValue(serviceContext) {
                    #expect(ServiceContext.current?[RequestIDKey.self] == "7f0c2b4e")
                }
            }
        }

        @Test func fromAServiceContextToAScope() throws {
            let requestID = ContextKey<String>("request_id")
            let bridge = ServiceContextBridge().mapping(requestID, to: RequestIDKey.self)

            var incoming = ServiceContext.topLevel
            incoming[RequestIDKey.self] = "from a library"
            bridge.run(from: incoming) {
                #expect(TaskContext.get(requestID) == "from a library")
            }
        }

        /// "`run(from:_:)` restores every key from it, mapped or not."
        @Test func theCarriedContextComesBackWhole() throws {
            let requestID = ContextKey<String>("request_id")
            let bridge = ServiceContextBridge().mapping(requestID, to: RequestIDKey.self)
            let serviceContext = try TaskContext.run {
                try TaskContext.set(requestID, "r-1")
                try TaskContext.set("tenant", "acme")
                return bridge.serviceContext()
            }
            bridge.run(from: serviceContext) {
                #expect(TaskContext.get(requestID) == "r-1")
                #expect(TaskContext.get("tenant") as? String == "acme")
            }
        }
    }
}
