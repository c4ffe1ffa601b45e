import ContextStoreTestSupport
import Testing

@testable import ContextStoreTracing

// The limits, against the spec's current "Limits" section: every member is
// kept when the baggage-string (all header lines together) holds at most 64
// members and 8,192 bytes; beyond, up to 180 members and 8,192 bytes as
// written are kept, whole members dropped. Then the bounded work of parsing
// hostile headers, counted by `_BaggageParser.steps`.

private typealias Member = W3CBaggage.Member

/// `count` list-members `m0=xx…`, `m1=xx…`, … whose sizes add up to
/// `total` bytes once joined with single commas.
private func filling(_ total: Int, with count: Int) -> [String] {
    let bytes = total - (count - 1)
    return (0..<count).map { index in
        let key = "m\(index)"
        let size = bytes / count + (index < bytes % count ? 1 : 0)
        return key + "=" + String(repeating: "x", count: size - key.utf8.count - 1)
    }
}

/// The steps `_BaggageParser` takes over `header`, with the members it keeps.
private func parsed(_ header: String) -> (members: [Member], steps: Int) {
    var parser = _BaggageParser(header)
    let members = parser.members()
    return (members, parser.steps)
}

/// Headers made to cost: huge, full of separators, of properties, of
/// escapes, or all of them at once.
private let hostileHeaders: [(name: String, header: String)] = {
    var generator = SplitMix64(seed: 0xBA66_0001)
    let alphabet = Array("=,; \t%FfA09k\"\\".utf8)
    let mib = 1_048_576
    let garbage = String(decoding: (0..<mib).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
    return [
        ("commas", String(repeating: ",", count: mib)),
        ("one huge member", "k=" + String(repeating: "x", count: mib)),
        ("one member, a million properties", "k=v" + String(repeating: ";p", count: mib / 2)),
        ("many members", String(repeating: "a=1,", count: mib / 4)),
        ("many lines joined", String(repeating: "a=1, b=2 ;p=%20, ", count: mib / 17)),
        ("OWS", String(repeating: " \t", count: mib / 2) + "k=v"),
        ("percent signs", "k=" + String(repeating: "%", count: mib)),
        ("invalid UTF-8 escapes", "k=" + String(repeating: "%FF", count: mib / 3)),
        ("equals signs", "k" + String(repeating: "=", count: mib)),
        ("huge key", String(repeating: "k", count: mib) + "=v"),
        ("garbage", garbage),
    ]
}()

extension TracingTests {
    @Suite("W3C Baggage: limits and bounded work")
    struct BaggageLimitsTests {
        // MARK: What the spec requires: 64 members, 8,192 bytes

        @Test func sixtyFourMembersOf8192BytesAreAllKept() {
            let header = filling(8_192, with: 64).joined(separator: ",")
            #expect(header.utf8.count == 8_192)
            let members = W3CBaggage.parse(header)
            #expect(members.map(\.key) == (0..<64).map { "m\($0)" })
            #expect(W3CBaggage.serialize(members) == header)
        }

        @Test(arguments: [1, 2, 4, 64])
        func theLimitsApplyToAllHeaderLinesTogether(lines: Int) {
            // 64 members in `lines` lines; the lines joined with "," (their
            // combination, as RFC 7230 makes it) take exactly 8,192 bytes.
            let members = filling(8_192, with: 64)
            let perLine = 64 / lines
            let values = (0..<lines).map { members[($0 * perLine)..<(($0 + 1) * perLine)].joined(separator: ",") }
            let joined = values.joined(separator: ",")
            #expect(joined.utf8.count == 8_192)
            #expect(W3CBaggage.parse(joined).count == 64)
            // Joined with ", ", or with OWS around the members, the lines take
            // more than 8,192 bytes; the members, as written, still fit.
            let spaced = values.map { " \($0) " }.joined(separator: ", ")
            #expect(spaced.utf8.count > 8_192)
            #expect(W3CBaggage.parse(spaced).count == 64)
            #expect(W3CBaggage.serialize(W3CBaggage.parse(spaced)) == joined)
        }

        @Test func owsAndMalformedMembersDoNotCountTowardsTheBytes() {
            let members = filling(8_192, with: 64)
            let padded = members.map { $0.replacing("=", with: " \t= ") }.joined(separator: " , bad member , ")
            #expect(padded.utf8.count > 9_000)
            #expect(W3CBaggage.parse(padded).count == 64)
        }

        // MARK: Beyond: up to 180 members and 8,192 bytes as written

        @Test(arguments: [64, 65, 179, 180, 181, 500])
        func upTo180MembersAreKept(count: Int) {
            let header = (0..<count).map { "k\($0)=v" }.joined(separator: ",")
            #expect(W3CBaggage.parse(header).map(\.key) == (0..<min(count, 180)).map { "k\($0)" })
        }

        @Test func aMemberThatDoesNotFitIsDroppedWholeAndLaterOnesThatFitAreKept() {
            let first = "first=" + String(repeating: "x", count: 7_994)  // 8,000 bytes
            let big = "big=" + String(repeating: "y", count: 500)
            let header = [first, big, "small=1", "late=" + String(repeating: "z", count: 200), "last=2"]
                .joined(separator: ",")
            // 8,000 + 8 ("small=1" and its comma) + 7 ("last=2" and its comma) = 8,015.
            #expect(W3CBaggage.parse(header).map(\.key) == ["first", "small", "last"])
        }

        @Test func aMemberLargerThanTheLimitIsDroppedAndTheRestKept() {
            let huge = "huge=" + String(repeating: "x", count: 9_000)
            #expect(W3CBaggage.parse("\(huge),a=1,b=2").map(\.key) == ["a", "b"])
            #expect(W3CBaggage.parse("a=1,\(huge),b=2").map(\.key) == ["a", "b"])
        }

        @Test func thousandsOfPropertiesAreKeptWhileTheMemberFits() throws {
            // "k=v" and 4,094 ";p" take 8,191 bytes: kept, every property.
            let fits = "k=v" + String(repeating: ";p", count: 4_094)
            let member = try #require(W3CBaggage.parse(fits).first)
            #expect(member.properties.count == 4_094)
            #expect(W3CBaggage.serialize([member]) == fits)
            // 5,000 of them take 10,003 bytes: dropped whole, the next member kept.
            let tooMany = "k=v" + String(repeating: ";p", count: 5_000)
            #expect(W3CBaggage.parse(tooMany + ",next=1").map(\.key) == ["next"])
        }

        // MARK: Sizes are counted as written, which is as received

        @Test func receivedEncodingsAreWrittenBackAsTheyCame() {
            // Invalid UTF-8 decodes to U+FFFD (3 bytes, 9 once encoded), yet
            // a member is written back as received, so what fit still fits.
            let header = filling(8_192, with: 64).map { $0.replacing("xxx", with: "%FF") }.joined(separator: ",")
            #expect(header.utf8.count == 8_192)
            let members = W3CBaggage.parse(header)
            #expect(members.count == 64)
            #expect(members.allSatisfy { $0.value.contains("\u{FFFD}") })
            #expect(W3CBaggage.serialize(members) == header)

            // Lowercase hex, needless escapes and a bare `+` stay as they were.
            let quirky = "k=%c3%a9,l=%41,m=a+b,n=100%,o=v;p=%2b"
            #expect(W3CBaggage.serialize(W3CBaggage.parse(quirky)) == quirky)
            #expect(W3CBaggage.parse(quirky).map(\.value) == ["é", "A", "a+b", "100%", "v"])
        }

        @Test func aChangedValueIsWrittenInTheCanonicalEncoding() throws {
            var member = try #require(W3CBaggage.parse("k=a+b;p=%41;q").first)
            #expect(W3CBaggage.serialize([member]) == "k=a+b;p=%41;q")
            member.properties[0].value = "A"
            #expect(W3CBaggage.serialize([member]) == "k=a+b;p=A;q")
            member.value += ""
            #expect(W3CBaggage.serialize([member]) == "k=a%2Bb;p=A;q")
            member.key = "renamed"
            #expect(W3CBaggage.serialize([member]) == "renamed=a%2Bb;p=A;q")
        }

        @Test func membersCompareByTheirDecodedValues() {
            let received = W3CBaggage.parse("k=%41;p=%42")
            let made = [Member(key: "k", value: "A", properties: [.init(key: "p", value: "B")])]
            #expect(received == made)
            #expect(Set(received + made).count == 1)
            #expect(W3CBaggage.serialize(received) == "k=%41;p=%42")
            #expect(W3CBaggage.serialize(made) == "k=A;p=B")
        }

        // MARK: Only the first 16,384 bytes are read

        @Test func aMemberEndingAtTheReadLimitIsReadAndOnePastItIsNot() {
            let limit = W3CBaggage.maxReadBytes
            #expect(limit == 16_384)
            let pad = { (count: Int) in String(repeating: " ", count: count) }
            #expect(W3CBaggage.parse(pad(limit - 3) + "a=1").map(\.key) == ["a"])
            #expect(W3CBaggage.parse(pad(limit - 3) + "a=1,b=2").map(\.key) == ["a"], "the comma is byte 16,385")
            #expect(W3CBaggage.parse(pad(limit - 2) + "a=1") == [])
            #expect(W3CBaggage.parse(pad(limit - 2) + "a=1,b=2") == [], "a cut member, and nothing after it")
        }

        // MARK: Bounded work

        @Test(arguments: hostileHeaders.indices)
        func aHugeHeaderCostsWhatItsFirst16385BytesCost(_ index: Int) {
            let (name, header) = hostileHeaders[index]
            let whole = parsed(header)
            let prefix = parsed(String(decoding: header.utf8.prefix(W3CBaggage.maxReadBytes + 1), as: UTF8.self))
            #expect(whole.members == prefix.members, "\(name)")
            #expect(whole.steps == prefix.steps, "\(name): nothing past the window is looked at")
            #expect(whole.steps <= _BaggageParser.maxSteps(forHeaderBytes: header.utf8.count), "\(name)")
            #expect(
                _BaggageParser.maxSteps(forHeaderBytes: header.utf8.count) == 10 * (W3CBaggage.maxReadBytes + 2),
                "the bound stops growing past the window")
        }

        @Test func workIsLinearInTheHeaderUpToTheWindow() {
            var generator = SplitMix64(seed: 0xBA66_0002)
            let alphabet = Array("=,; \t%FfA09k+é".utf8)
            var worst = 0.0
            for round in 0..<300 {
                let length = Int.random(in: 0...20_000, using: &generator)
                let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
                let header = String(decoding: bytes, as: UTF8.self)
                let steps = parsed(header).steps
                let bytesRead = min(header.utf8.count, W3CBaggage.maxReadBytes + 1)
                #expect(steps <= _BaggageParser.maxSteps(forHeaderBytes: header.utf8.count), "round \(round)")
                worst = max(worst, Double(steps) / Double(bytesRead + 1))
            }
            #expect(worst < Double(_BaggageParser.stepsPerByte), "steps per byte, at worst: \(worst)")
        }
    }
}
