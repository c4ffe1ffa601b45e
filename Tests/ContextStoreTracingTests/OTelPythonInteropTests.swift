import ContextStore
import ContextStoreTracing
import Testing

// Interoperation with OpenTelemetry Python's W3CBaggagePropagator, on the
// exact headers it wrote and read (OTelPythonBaggageFixtures.swift, made by
// Scripts/otel_python_baggage.py; CI has no network, so they are committed).
//
// Python encodes with `quote_plus`: every key and value character outside
// `[A-Za-z0-9_.~-]` percent-encoded, a space as `+`. Here keys are literal
// and `+` is a plus sign (see `W3CBaggage`), so:
// - a key of `[A-Za-z0-9_.~-]` only is read as Python was given it; another
//   is read as Python wrote it (`user+id` for `user id`), a valid token;
// - a value is read as Python was given it, but with `+` for each space;
// - either way, `serialize` writes the member back byte for byte, so the
//   next Python hop reads exactly what the first was given;
// - Python reads every value `serialize` writes as it was, except that it
//   strips whitespace at either end (its `.strip()` after decoding).

private typealias Member = W3CBaggage.Member

/// Whether `key` is made of the characters Python sends unencoded.
private func isUnreserved(_ key: String) -> Bool {
    key.unicodeScalars.allSatisfy { scalar in
        scalar.isASCII
            && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || "_.~-".unicodeScalars.contains(scalar))
    }
}

/// `text` without the whitespace at either end, as Python's `str.strip()`
/// removes it (the fixtures hold spaces and tabs only).
private func pythonStripped(_ text: String) -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
}

extension TracingTests {
    @Suite("W3C Baggage: OpenTelemetry Python interop")
    struct OTelPythonInteropTests {
        @Test func theFixturesAreThoseOfTheVersionNamed() {
            #expect(OTelPythonFixtures.version == "1.45.3")
            #expect(OTelPythonFixtures.injected.count == 35)
            #expect(OTelPythonFixtures.extracted.count == 24)
        }

        @Test(arguments: OTelPythonFixtures.injected)
        func whatPythonSendsIsReadAndForwardedUnchanged(_ sent: OTelPythonInjected) throws {
            let members = W3CBaggage.parse(sent.header)
            let member = try #require(members.first, "\(sent.header) parsed to nothing")
            #expect(members.count == 1)

            // Keys: Python's plain keys as given; the others as Python wrote them.
            let wireKey = String(sent.header.prefix { $0 != "=" })
            #expect(member.key == wireKey)
            #expect(W3CBaggage.isValidKey(member.key))
            if isUnreserved(sent.key) {
                #expect(member.key == sent.key, "a key of [A-Za-z0-9_.~-] is read as Python was given it")
            }

            // Values: as given, but Python's `+` for a space is a plus sign.
            #expect(member.value == sent.value.replacing(" ", with: "+"))
            if !sent.value.contains(" ") {
                #expect(member.value == sent.value, "a value without a space is read exactly")
            }

            // Forwarded byte for byte: the next Python hop reads what the first was given.
            #expect(W3CBaggage.serialize(members) == sent.header)
        }

        @Test func aHeaderOfSeveralEntriesFromPython() throws {
            let (entries, header) = OTelPythonFixtures.injectedTogether
            #expect(entries.map(\.key) == ["userId", "user id", "serverNode", "isProduction"])
            #expect(
                W3CBaggage.parse(header) == [
                    Member(key: "userId", value: "alice"),
                    Member(key: "user+id", value: "Amélie"),
                    Member(key: "serverNode", value: "DF+28"),
                    Member(key: "isProduction", value: "false"),
                ])
            #expect(W3CBaggage.serialize(W3CBaggage.parse(header)) == header)

            // A propagator receives Python's key "user id" under the key Python writes.
            let userID = ContextKey<String>("interop.user_id")
            let node = ContextKey<String>("interop.node")
            let propagator = try W3CBaggagePropagator(
                propagating: .key(userID, as: "user+id"), .key(node, as: "serverNode"))
            let received = propagator.context(fromHeader: header)
            #expect(received[userID] == "Amélie")
            #expect(received[node] == "DF+28", "Python's space arrives as a plus sign")
        }

        @Test(arguments: OTelPythonFixtures.extracted)
        func pythonReadsWhatWeSend(_ fixture: OTelPythonExtracted) throws {
            // The header Python was given is still the one we write.
            #expect(W3CBaggage.serialize([Member(key: fixture.key, value: fixture.value)]) == fixture.header)
            let (key, value) = try #require(fixture.extracted, "Python read nothing from \(fixture.header)")

            // Values: exactly as sent, but for Python's own strip of whitespace at either end.
            #expect(value == pythonStripped(fixture.value))
            if pythonStripped(fixture.value) == fixture.value {
                #expect(value == fixture.value)
            }

            // Keys: a plain key as sent; Python decodes the others, we do not.
            if isUnreserved(fixture.key) {
                #expect(key == fixture.key)
            } else {
                #expect(["a+b": "a b", "a%20b": "a b", "100%": "100%"][fixture.key] == key)
            }
        }

        @Test func thePropagatorSendsWhatPythonReadsBack() throws {
            let requestID = ContextKey<String>("interop.request_id")
            let propagator = try W3CBaggagePropagator(propagating: .key(requestID, as: "k"))
            for fixture in OTelPythonFixtures.extracted where fixture.key == "k" {
                let header = try TaskContext.run { () throws -> String? in
                    try TaskContext.set(requestID, fixture.value)
                    return propagator.header()
                }
                #expect(header == fixture.header, "the header Python read, for \(fixture.value)")
            }
        }
    }
}

extension OTelPythonInjected: CustomTestStringConvertible {
    var testDescription: String { "\(key) = \(value)" }
}

extension OTelPythonExtracted: CustomTestStringConvertible {
    var testDescription: String { "\(key) = \(value)" }
}
