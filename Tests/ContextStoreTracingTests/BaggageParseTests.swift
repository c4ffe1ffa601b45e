import ContextStoreTracing
import Testing

// Parsing baggage-strings: the spec's own examples, percent-decoding, OWS,
// properties, malformed members, and the limits.

private typealias Member = W3CBaggage.Member
private typealias Property = W3CBaggage.Property

extension TracingTests {
    @Suite("W3C Baggage: parsing")
    struct BaggageParseTests {
        // MARK: The spec's examples

        @Test func theSpecsExampleWithProperties() {
            let header = "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue"
            #expect(header.utf8.count == 86, "the spec counts 86 bytes")
            #expect(
                W3CBaggage.parse(header) == [
                    Member(
                        key: "key1", value: "value1",
                        properties: [Property(key: "property1"), Property(key: "property2")]),
                    Member(key: "key2", value: "value2"),
                    Member(
                        key: "key3", value: "value3", properties: [Property(key: "propertyKey", value: "propertyValue")]
                    ),
                ])
        }

        @Test func theSpecsSingleHeader() {
            #expect(
                W3CBaggage.parse("userId=alice,serverNode=DF%2028,isProduction=false") == [
                    Member(key: "userId", value: "alice"),
                    Member(key: "serverNode", value: "DF 28"),
                    Member(key: "isProduction", value: "false"),
                ])
        }

        @Test func theSpecsSplitHeadersJoined() {
            let expected = [
                Member(key: "userId", value: "alice"),
                Member(key: "serverNode", value: "DF 28"),
                Member(key: "isProduction", value: "false"),
            ]
            #expect(
                W3CBaggage.parse(["userId=alice", "serverNode=DF%2028,isProduction=false"].joined(separator: ","))
                    == expected)
            // "Values and names might begin and end with spaces"
            #expect(
                W3CBaggage.parse(
                    ["userId =   alice", "serverNode = DF%2028, isProduction = false"].joined(separator: ","))
                    == expected)
        }

        @Test func theSpecsUTF8Example() {
            #expect(W3CBaggage.parse("userId=Am%C3%A9lie") == [Member(key: "userId", value: "Amélie")])
        }

        // MARK: Values

        @Test(arguments: [
            ("%20", " "), ("%2C", ","), ("%3B", ";"), ("%25", "%"), ("%22", "\""), ("%5C", "\\"),
            ("a%2Cb%3Bc%20d", "a,b;c d"), ("%c3%a9", "é"), ("%E2%82%AC", "€"),
            // Not escapes: kept as they are (`%` is a baggage-octet).
            ("%", "%"), ("%2", "%2"), ("%zz", "%zz"), ("100%", "100%"), ("%%41", "%A"),
            // Invalid UTF-8 becomes U+FFFD, as the spec requires.
            ("%FF", "\u{FFFD}"), ("a%C3", "a\u{FFFD}"), ("%C3%28", "\u{FFFD}("),
            // A value may hold `=`, and be empty.
            ("abc==", "abc=="), ("a=b=c", "a=b=c"), ("", ""),
        ])
        func valuesAreDecoded(raw: String, decoded: String) {
            #expect(W3CBaggage.parse("k=\(raw)") == [Member(key: "k", value: decoded)])
        }

        @Test func owsIsSpacesAndTabsAroundEveryPart() {
            #expect(
                W3CBaggage.parse(" \tk1 \t= \tv1 \t; \tp1 \t= \tx \t; \tp2 \t, \tk2=v2\t") == [
                    Member(key: "k1", value: "v1", properties: [Property(key: "p1", value: "x"), Property(key: "p2")]),
                    Member(key: "k2", value: "v2"),
                ])
        }

        @Test func propertyValuesAreDecodedAndMayHoldEquals() {
            #expect(
                W3CBaggage.parse("k=v;p=a%20b;q=x=y") == [
                    Member(
                        key: "k", value: "v",
                        properties: [Property(key: "p", value: "a b"), Property(key: "q", value: "x=y")])
                ])
        }

        @Test func duplicatesAreKeptInOrder() {
            #expect(W3CBaggage.parse("k=1,j=2,k=3").map(\.value) == ["1", "2", "3"])
        }

        // MARK: Malformed members are skipped, the rest kept

        @Test(arguments: [
            "novalue", "=v", " = v", "k y=v", "k\u{7F}=v", "k=v v", "k=\"q\"", "k=a\\b", "k=é", "k=v\r\n",
            "(k)=v", "k/x=v", "k=v;", "k=v;;p", "k=v;p q", "k=v;p=\"x\"", "k=v;=x", "k=v;p=a b", "",
            " ", "\t",
        ])
        func aMalformedMemberIsSkipped(_ bad: String) {
            #expect(W3CBaggage.parse(bad) == [], "alone")
            #expect(
                W3CBaggage.parse("a=1,\(bad),b=2") == [Member(key: "a", value: "1"), Member(key: "b", value: "2")],
                "between two good ones")
        }

        @Test func emptyMembersAndStrayCommasAreSkipped() {
            #expect(W3CBaggage.parse(",a=1,,b=2,").map(\.key) == ["a", "b"])
            #expect(W3CBaggage.parse(",,,") == [])
        }

        // MARK: Keys are literal

        @Test(arguments: ["user%20id", "request%5Fid", "%C3%A9", "user+id", "100%", "%", "%zz"])
        func percentEncodedBytesInAKeyAreLiteral(_ key: String) {
            // `%` is a token character; keys are never decoded (nor are property keys).
            #expect(
                W3CBaggage.parse("\(key)=1;\(key)=2") == [
                    Member(key: key, value: "1", properties: [Property(key: key, value: "2")])
                ])
            #expect(W3CBaggage.serialize(W3CBaggage.parse("\(key)=1")) == "\(key)=1", "written back as received")
            #expect(W3CBaggage.serialize([Member(key: key, value: "1")]) == "\(key)=1", "and as given")
        }

        @Test func anEncodedKeyIsNotTheKeyItDecodesTo() {
            let members = W3CBaggage.parse("request_id=1,request%5Fid=2,request%5fid=3")
            #expect(members.map(\.key) == ["request_id", "request%5Fid", "request%5fid"])
            #expect(Set(members.map(\.key)).count == 3)
        }

        @Test func tokenCharactersAreAllAcceptedInKeys() {
            let key = "!#$%&'*+-.^_`|~09AZaz"
            #expect(W3CBaggage.parse("\(key)=v") == [Member(key: key, value: "v")])
        }

        // MARK: Limits

        @Test func atMost180MembersAreKeptTheFirstOnes() {
            let header = (0..<200).map { "k\($0)=v" }.joined(separator: ",")
            let members = W3CBaggage.parse(header)
            #expect(members.count == 180)
            #expect(members.map(\.key) == (0..<180).map { "k\($0)" })
        }

        @Test func malformedMembersDoNotCountTowardsTheLimit() {
            let header = (0..<200).map { $0.isMultiple(of: 2) ? "bad \($0)" : "k\($0)=v" }.joined(separator: ",")
            #expect(W3CBaggage.parse(header).map(\.key) == (0..<200).filter { !$0.isMultiple(of: 2) }.map { "k\($0)" })
        }

        @Test(arguments: [8_192, 8_193])
        func onlyMembersThatFitIn8192BytesAreKept(bEndsAt end: Int) {
            // Eight members of 1,000 bytes, then "a=yyy…" sized so that
            // ",b=" after it ends at byte `end`, then ",c=1".
            let thousand = (0..<8).map { n in "k\(n)=" + String(repeating: "x", count: 998 - "\(n)".utf8.count) }
            let eight = thousand.joined(separator: ",")
            #expect(eight.utf8.count == 8_007)
            let a = "a=" + String(repeating: "y", count: end - 3 - 8_007 - 1 - 2)
            let header = [eight, a, "b=", "c=1"].joined(separator: ",")
            #expect((eight + "," + a + ",b=").utf8.count == end)

            let keys = W3CBaggage.parse(header).map(\.key)
            let kept = (0..<8).map { "k\($0)" } + ["a"]
            // b is kept only if the members, as written, still fit in 8,192
            // bytes; c never is, as it ends past them, and no partial member
            // is kept.
            #expect(keys == (end <= 8_192 ? kept + ["b"] : kept))
        }

        @Test func aMemberEndingExactlyAtTheLimitIsKept() {
            // "k=" + 8,190 bytes is 8,192 bytes: kept. One more byte: dropped.
            let exact = "k=" + String(repeating: "x", count: 8_190)
            #expect(W3CBaggage.parse(exact).map(\.value.utf8.count) == [8_190])
            #expect(W3CBaggage.parse(exact + ",next=1").map(\.key) == ["k"], "the comma after it is byte 8,193")
            #expect(W3CBaggage.parse(exact + "x") == [])
        }

        @Test func aHugeHeaderYieldsOnlyWhatFitsIn8192Bytes() {
            let member = "key=" + String(repeating: "v", count: 96)  // 100 bytes
            let header = Array(repeating: member, count: 10_000).joined(separator: ",")  // ~1 MB
            // 81 members take 81 * 100 + 80 = 8,180 bytes; an 82nd, or any
            // later one, would take them to 8,281.
            #expect(W3CBaggage.parse(header).count == 81)
        }
    }
}
