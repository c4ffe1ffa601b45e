import ContextStore
import ContextStoreTracing
import Instrumentation
import ServiceContextModule
import Testing

// W3CBaggagePropagator: only listed keys cross, in both directions; as an
// `Instrument` it reads and writes `ServiceContext.taskContext`.

private let requestID = ContextKey<String>("tracing.request_id")
private let secret = ContextKey<String>("tracing.secret")
private let attempt = ContextKey<Int>("tracing.attempt")

private struct User: Sendable, Equatable {
    var id: String
}

private let user = ContextKey<User>("tracing.user")

private func headers(_ baggage: String...) -> Headers {
    Headers(fields: ["baggage": baggage])
}

/// A carrier that holds each header once, its lines joined already.
private struct JoinedExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}

/// An extractor that returns only the first of repeated fields (wrong).
private struct FirstLineExtractor: Extractor {
    func extract(key: String, from carrier: Headers) -> String? {
        carrier.fields[key.lowercased()]?.first
    }
}

extension TracingTests {
    @Suite("W3C Baggage propagator")
    struct PropagatorTests {
        // MARK: Nothing leaves unless listed

        @Test func aPropagatorWithNoFieldsSendsNothing() throws {
            let propagator = try W3CBaggagePropagator(propagating: [])
            try TaskContext.run {
                try TaskContext.set(requestID, "r-1")
                try TaskContext.set(secret, "hunter2")
                var carrier = Headers()
                propagator.inject(into: &carrier, using: HeadersInjector())
                #expect(carrier == Headers(), "no header at all")
                #expect(propagator.header() == nil)

                var serviceContext = ServiceContext.topLevel
                serviceContext.taskContext = TaskContext.current
                propagator.inject(serviceContext, into: &carrier, using: HeadersInjector())
                #expect(carrier == Headers())
            }
        }

        @Test func onlyListedKeysLeave() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            try TaskContext.run {
                try TaskContext.set(requestID, "r 2")
                try TaskContext.set(secret, "hunter2")
                var carrier = Headers()
                propagator.inject(into: &carrier, using: HeadersInjector())
                #expect(carrier == headers("tracing.request_id=r%202"))
            }
        }

        @Test func listedButAbsentKeysAreLeftOutAndNoneMeansNoHeader() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt))
            var carrier = Headers()
            try TaskContext.run {
                try TaskContext.set(attempt, 2)
                #expect(propagator.header() == "tracing.attempt=2")
                try TaskContext.remove(attempt)
                propagator.inject(into: &carrier, using: HeadersInjector())
            }
            #expect(carrier == Headers())
            // Outside any scope, too.
            propagator.inject(into: &carrier, using: HeadersInjector())
            #expect(carrier == Headers())
        }

        @Test func onlyListedKeysAreAcceptedFromAHeader() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            let received = propagator.extract(
                headers("tracing.secret=planted, tracing.request_id=r-3, other=1"), using: HeadersExtractor())
            #expect(received.names == ["tracing.request_id"])
            #expect(received[requestID] == "r-3")
        }

        // MARK: Fields

        @Test func fieldsConvertTypedValuesAndRenameKeys() throws {
            let propagator = try W3CBaggagePropagator(
                propagating: .key(requestID, as: "rid"), .key(attempt),
                .key(user, as: "user_id", encode: { $0.id }, decode: { $0.isEmpty ? nil : User(id: $0) }))
            #expect(propagator.fields.map(\.baggageKey) == ["rid", "tracing.attempt", "user_id"])
            #expect(propagator.fields.map(\.contextName) == ["tracing.request_id", "tracing.attempt", "tracing.user"])

            let sent = try TaskContext.run { () throws -> String? in
                try TaskContext.set(requestID, "r-4")
                try TaskContext.set(attempt, 3)
                try TaskContext.set(user, User(id: "ada lovelace"))
                return propagator.header()
            }
            #expect(sent == "rid=r-4,tracing.attempt=3,user_id=ada%20lovelace")

            let received = propagator.context(fromHeader: try #require(sent))
            #expect(received[requestID] == "r-4")
            #expect(received[attempt] == 3)
            #expect(received[user] == User(id: "ada lovelace"))
        }

        @Test func aValueTheDecoderRejectsIsDropped() throws {
            let propagator = try W3CBaggagePropagator(
                propagating: .key(attempt), .key(user, encode: { $0.id }, decode: { $0.isEmpty ? nil : User(id: $0) }))
            let received = propagator.context(fromHeader: "tracing.attempt=three, tracing.user=")
            #expect(received.isEmpty)
        }

        @Test func theLastOfDuplicateKeysWinsAndMalformedMembersAreSkipped() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt))
            let received = propagator.context(
                fromHeader: "tracing.request_id=first, tracing.attempt=1;p, bad member, tracing.request_id=second")
            #expect(received[requestID] == "second")
            #expect(received[attempt] == 1, "properties are dropped, the value kept")
        }

        @Test func severalBaggageHeadersAreReadAsOne() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt))
            let received = propagator.extract(
                headers("tracing.request_id=r-5", "tracing.attempt=4"), using: HeadersExtractor())
            #expect(received[requestID] == "r-5")
            #expect(received[attempt] == 4)
        }

        @Test(arguments: [1, 2, 4, 64])
        func sixtyFourMembersIn8192BytesAcrossHeaderLinesAreAllReceived(lines: Int) throws {
            // 64 fields whose members, in `lines` header lines, take 8,192
            // bytes together (the lines joined with ","): the spec's minimum.
            let keys = (0..<64).map { ContextKey<String>("tracing.lines.\($0)") }
            let propagator = try W3CBaggagePropagator(propagating: keys.map { .key($0) })
            let members = keys.map { key in
                key.name + "=" + String(repeating: "v", count: (8_192 - 63) / 64 - key.name.utf8.count - 1)
            }
            let padding = 8_192 - (members.joined(separator: ",").utf8.count)
            let sized = [members[0] + String(repeating: "v", count: padding)] + members.dropFirst()
            let perLine = 64 / lines
            let values = (0..<lines).map { sized[($0 * perLine)..<(($0 + 1) * perLine)].joined(separator: ",") }
            #expect(values.joined(separator: ",").utf8.count == 8_192)

            // The carrier holds the lines as repeated fields; the extractor joins them.
            let repeated = propagator.extract(Headers(fields: ["baggage": values]), using: HeadersExtractor())
            #expect(keys.allSatisfy { repeated[$0] != nil })
            #expect(repeated.count == 64)

            // The carrier holds them joined already, as an HTTP stack that combines fields does.
            let joined = propagator.extract(["baggage": values.joined(separator: ", ")], using: JoinedExtractor())
            #expect(keys.allSatisfy { joined[$0] != nil })
            #expect(joined.count == 64)

            // And as an Instrument, into a ServiceContext.
            var serviceContext = ServiceContext.topLevel
            propagator.extract(Headers(fields: ["baggage": values]), into: &serviceContext, using: HeadersExtractor())
            #expect(serviceContext.taskContext?.count == 64)
        }

        @Test func anExtractorThatKeepsOnlyOneLineSeesOnlyThatLine() throws {
            // The propagator reads the one string the extractor returns: an
            // extractor must join repeated fields, or the others are lost.
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt))
            let carrier = Headers(fields: ["baggage": ["tracing.request_id=r-10", "tracing.attempt=3"]])
            let received = propagator.extract(carrier, using: FirstLineExtractor())
            #expect(received[requestID] == "r-10")
            #expect(received[attempt] == nil)
        }

        @Test func aPercentEncodedKeyIsNotTheKeyItDecodesTo() throws {
            // Keys are literal: "tracing.request%5Fid" is not "tracing.request_id",
            // so an encoded key can neither set nor shadow a listed one.
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            let received = propagator.context(fromHeader: "tracing.request%5Fid=planted, tracing%2Erequest_id=planted")
            #expect(received.isEmpty)
            let literal = try W3CBaggagePropagator(propagating: .key(requestID, as: "tracing.request%5Fid"))
            #expect(literal.context(fromHeader: "tracing.request%5Fid=r-11")[requestID] == "r-11")
            #expect(literal.context(fromHeader: "tracing.request_id=r-11").isEmpty)
        }

        @Test func invalidAndDuplicateBaggageKeysAreClearErrors() {
            #expect(throws: BaggageError.invalidKey("request id")) {
                try W3CBaggagePropagator(propagating: .key(requestID, as: "request id"))
            }
            #expect(throws: BaggageError.invalidKey("")) {
                try W3CBaggagePropagator(propagating: .key(requestID, as: ""))
            }
            #expect(throws: BaggageError.duplicateKey("k")) {
                try W3CBaggagePropagator(propagating: .key(requestID, as: "k"), .key(attempt, as: "k"))
            }
        }

        // MARK: Limits through the propagator

        @Test func pastTheLimitsLaterFieldsAreDropped() throws {
            let keys = (0..<200).map { ContextKey<String>("tracing.many.\($0)") }
            let propagator = try W3CBaggagePropagator(propagating: keys.map { .key($0) })
            let header = try TaskContext.run { () throws -> String? in
                for key in keys { try TaskContext.set(key, "v") }
                return propagator.header()
            }
            let received = propagator.context(fromHeader: try #require(header))
            #expect(received.names.count == 180)
            #expect(keys.prefix(180).allSatisfy { received[$0] == "v" })
            #expect(keys.suffix(20).allSatisfy { received[$0] == nil })

            let big = try W3CBaggagePropagator(propagating: .key(secret), .key(requestID))
            let bigHeader = try TaskContext.run { () throws -> String? in
                try TaskContext.set(secret, String(repeating: "x", count: 9_000))
                try TaskContext.set(requestID, "r-6")
                return big.header()
            }
            #expect(
                bigHeader == "tracing.request_id=r-6", "the value too large for a header is dropped, the next one kept")
        }

        // MARK: As an Instrument

        @Test func asAnInstrumentItExtractsIntoAndInjectsFromTheServiceContext() throws {
            let instrument: any Instrument = try W3CBaggagePropagator(propagating: .key(requestID), .key(attempt))

            var serviceContext = ServiceContext.topLevel
            serviceContext.taskContext = try TaskContext().setting(attempt, 1).setting(secret, "kept locally")
            instrument.extract(
                headers("tracing.request_id=r-7, tracing.attempt=2"), into: &serviceContext, using: HeadersExtractor())
            let carried = try #require(serviceContext.taskContext)
            #expect(carried[requestID] == "r-7")
            #expect(carried[attempt] == 2, "a received key replaces the carried value")
            #expect(carried[secret] == "kept locally", "other carried keys stay")

            var outgoing = Headers()
            instrument.inject(serviceContext, into: &outgoing, using: HeadersInjector())
            #expect(outgoing == headers("tracing.request_id=r-7,tracing.attempt=2"))
        }

        @Test func extractWithNoHeaderLeavesTheServiceContextAlone() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            var serviceContext = ServiceContext.topLevel
            propagator.extract(Headers(), into: &serviceContext, using: HeadersExtractor())
            #expect(serviceContext.taskContext == nil)
            #expect(serviceContext.isEmpty)
        }

        @Test func aMultiplexInstrumentCarriesIt() throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            let multiplex = MultiplexInstrument([NoOpInstrument(), propagator])
            var serviceContext = ServiceContext.topLevel
            serviceContext.taskContext = try TaskContext().setting(requestID, "r-8")
            var outgoing = Headers()
            multiplex.inject(serviceContext, into: &outgoing, using: HeadersInjector())
            #expect(outgoing == headers("tracing.request_id=r-8"))
        }

        // MARK: Scopes from incoming headers

        @Test func runOpensAScopeWithTheReceivedKeysOverACopyOfTheCurrentContext() async throws {
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID))
            try await TaskContext.run {
                try TaskContext.set(requestID, "local")
                try TaskContext.set(secret, "local secret")
                try await propagator.run(
                    extractingFrom: headers("tracing.request_id=r-9, tracing.secret=x"), using: HeadersExtractor()
                ) {
                    await Task.yield()  // the async overload
                    #expect(TaskContext.get(requestID) == "r-9")
                    #expect(TaskContext.get(secret) == "local secret", "unlisted keys are not taken")
                    try TaskContext.set(attempt, 5)
                }
                #expect(TaskContext.get(requestID) == "local", "the enclosing scope is unchanged")
                #expect(TaskContext.get(attempt) == nil)

                let seen = propagator.run(extractingFrom: Headers(), using: HeadersExtractor()) {
                    TaskContext.get(requestID)
                }
                #expect(seen == "local", "no header: a plain copy")
            }
        }
    }
}
