import ContextStoreTestSupport
import ContextStoreTracing
import Testing

// Serialising baggage-strings: percent-encoding, properties, invalid keys,
// and which members the limits drop.

private typealias Member = W3CBaggage.Member
private typealias Property = W3CBaggage.Property

extension TracingTests {
    @Suite("W3C Baggage: serialising")
    struct BaggageSerializeTests {
        @Test func theSpecsExamples() {
            #expect(
                W3CBaggage.serialize([
                    Member(key: "userId", value: "alice"),
                    Member(key: "serverNode", value: "DF 28"),
                    Member(key: "isProduction", value: "false"),
                ]) == "userId=alice,serverNode=DF%2028,isProduction=false")
            #expect(W3CBaggage.serialize([Member(key: "userId", value: "Amélie")]) == "userId=Am%C3%A9lie")
            #expect(
                W3CBaggage.serialize([
                    Member(
                        key: "key1", value: "value1",
                        properties: [Property(key: "property1"), Property(key: "property2")]),
                    Member(key: "key2", value: "value2"),
                    Member(
                        key: "key3", value: "value3", properties: [Property(key: "propertyKey", value: "propertyValue")]
                    ),
                ]) == "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue")
        }

        @Test(arguments: [
            (" ", "%20"), (",", "%2C"), (";", "%3B"), ("%", "%25"), ("\"", "%22"), ("\\", "%5C"),
            ("\t", "%09"), ("\n", "%0A"), ("\u{7F}", "%7F"), ("€", "%E2%82%AC"),
            // `+` too: a form decoder (OpenTelemetry Python's) reads a bare `+` as a space.
            ("+", "%2B"), ("a+b", "a%2Bb"),
            // baggage-octets other than `%` and `+` go as they are, `=` included.
            ("a=b", "a=b"), ("!#$&'()*+-./:<>?@[]^_`{|}~", "!#$&'()*%2B-./:<>?@[]^_`{|}~"), ("", ""),
        ])
        func valuesArePercentEncoded(value: String, encoded: String) {
            #expect(W3CBaggage.serialize([Member(key: "k", value: value)]) == "k=\(encoded)")
        }

        @Test func propertyValuesArePercentEncoded() {
            #expect(
                W3CBaggage.serialize([Member(key: "k", value: "v", properties: [Property(key: "p", value: "a;b c")])])
                    == "k=v;p=a%3Bb%20c")
        }

        @Test(arguments: ["", "a b", "a,b", "a;b", "a=b", "é", "(x)", "a\"b", "a/b", "a\tb"])
        func aMemberWithAnInvalidKeyIsDropped(_ key: String) {
            #expect(!W3CBaggage.isValidKey(key))
            #expect(
                W3CBaggage.serialize([
                    Member(key: "a", value: "1"), Member(key: key, value: "x"), Member(key: "b", value: "2"),
                ]) == "a=1,b=2")
            #expect(
                W3CBaggage.serialize([
                    Member(key: "a", value: "1", properties: [Property(key: key)]), Member(key: "b", value: "2"),
                ])
                    == "b=2", "an invalid property key drops its member")
        }

        @Test func nothingToSendIsTheEmptyString() {
            #expect(W3CBaggage.serialize([]) == "")
            #expect(W3CBaggage.serialize([Member(key: "bad key", value: "x")]) == "")
        }

        // MARK: Limits: which members are dropped

        @Test func past180MembersTheRestAreDropped() {
            let members = (0..<200).map { Member(key: "k\($0)", value: "v") }
            let header = W3CBaggage.serialize(members)
            #expect(W3CBaggage.parse(header).map(\.key) == (0..<180).map { "k\($0)" })
            #expect(header.split(separator: ",").count == 180)
        }

        @Test func droppedInvalidMembersDoNotCountTowardsThe180() {
            let members = (0..<200).map { Member(key: $0 < 30 ? "bad \($0)" : "k\($0)", value: "v") }
            #expect(W3CBaggage.parse(W3CBaggage.serialize(members)).map(\.key) == (30..<200).map { "k\($0)" })
        }

        @Test func aMemberThatWouldPassTheByteLimitIsDroppedAndLaterOnesThatFitAreKept() {
            // Sizes in bytes as written; 8 members of 1,000 take 8,007 with
            // their commas. Then: 2,000 and 200 would pass 8,192 (dropped);
            // 100 fits (8,108); 84 would end at 8,193 (dropped); 83 ends at
            // exactly 8,192 (kept); nothing fits after that.
            let sized = { (key: String, size: Int) in
                Member(key: key, value: String(repeating: "x", count: size - key.utf8.count - 1))
            }
            var members = (0..<8).map { sized("k\($0)", 1000) }
            members += [sized("big", 2000), sized("mid", 200), sized("small", 100)]
            members += [sized("over1", 84), sized("fit", 83), sized("over2", 7)]
            let header = W3CBaggage.serialize(members)
            #expect(W3CBaggage.parse(header).map(\.key) == (0..<8).map { "k\($0)" } + ["small", "fit"])
            #expect(header.utf8.count == 8_192)
        }

        @Test func aMemberLargerThanTheLimitAloneIsDropped() {
            let huge = Member(key: "huge", value: String(repeating: "x", count: 9_000))
            #expect(W3CBaggage.serialize([huge, Member(key: "k", value: "v")]) == "k=v")
            // Encoding counts: 3,000 spaces take 9,000 bytes once encoded.
            #expect(W3CBaggage.serialize([Member(key: "s", value: String(repeating: " ", count: 3_000))]) == "")
        }

        @Test func membersRoundTripThroughAHeader() {
            var generator = SplitMix64(seed: 0x5EED_0001)
            let alphabet = Array("aé€ 𝄞,;=%\"\\\t\n\u{0}~!xyz09") + ["\u{FFFD}"]
            let keyAlphabet = Array("abcXYZ019!#$%&'*+-.^_`|~")
            func string(_ chars: [Character], _ range: ClosedRange<Int>) -> String {
                String(
                    (0..<Int.random(in: range, using: &generator)).map { _ in chars.randomElement(using: &generator)! })
            }
            for round in 0..<500 {
                let members = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                    Member(
                        key: string(keyAlphabet, 1...8), value: string(alphabet, 0...12),
                        properties: (0..<Int.random(in: 0...2, using: &generator)).map { _ in
                            Property(
                                key: string(keyAlphabet, 1...4),
                                value: Bool.random(using: &generator) ? nil : string(alphabet, 0...6))
                        })
                }
                #expect(W3CBaggage.parse(W3CBaggage.serialize(members)) == members, "round \(round): \(members)")
            }
        }
    }
}
