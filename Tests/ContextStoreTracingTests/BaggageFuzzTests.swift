import ContextStoreTestSupport
import ContextStoreTracing
import Testing

// Random and garbage input never crashes the codec, and what comes out
// always obeys the grammar and the limits. The generator is seeded, so a
// failure names the round that reproduces it.

/// Bytes biased towards the grammar's delimiters, with anything else mixed in.
private func garbage(_ generator: inout SplitMix64, maxLength: Int) -> [UInt8] {
    let interesting = Array("=,; \t%0123456789abcdefABCDEF\"\\k".utf8)
    return (0..<Int.random(in: 0...maxLength, using: &generator)).map { _ in
        Bool.random(using: &generator)
            ? interesting.randomElement(using: &generator)!
            : UInt8.random(in: 0...255, using: &generator)
    }
}

private func expectWellFormed(_ members: [W3CBaggage.Member], _ note: @autoclosure () -> String) {
    #expect(members.count <= W3CBaggage.maxMembers, "\(note())")
    for member in members {
        #expect(W3CBaggage.isValidKey(member.key), "\(note()): key \(member.key)")
        for property in member.properties {
            #expect(W3CBaggage.isValidKey(property.key), "\(note()): property key \(property.key)")
        }
    }
}

extension TracingTests {
    @Suite("W3C Baggage: fuzzing")
    struct BaggageFuzzTests {
        @Test func garbageNeverCrashesAndParsesToWellFormedMembers() {
            var generator = SplitMix64(seed: 0xF022_0001)
            for round in 0..<10_000 {
                let bytes = garbage(&generator, maxLength: 120)
                let header = String(decoding: bytes, as: UTF8.self)
                let members = W3CBaggage.parse(header)
                expectWellFormed(members, "round \(round)")
                // What was parsed serialises within the limits, and parses back the same.
                let again = W3CBaggage.serialize(members)
                #expect(again.utf8.count <= W3CBaggage.maxBytes, "round \(round)")
                #expect(W3CBaggage.parse(again) == members, "round \(round): \(bytes)")
            }
        }

        @Test func longGarbageRespectsTheLimits() {
            var generator = SplitMix64(seed: 0xF022_0002)
            for round in 0..<20 {
                let bytes = garbage(&generator, maxLength: 40_000)
                let members = W3CBaggage.parse(String(decoding: bytes, as: UTF8.self))
                expectWellFormed(members, "round \(round)")
            }
            // Many tiny members: the member limit, not the byte limit, binds.
            let tiny = String(repeating: "a=,", count: 3_000)
            #expect(W3CBaggage.parse(tiny).count == W3CBaggage.maxMembers)
        }

        @Test func randomMembersSerialiseWithinTheLimits() {
            var generator = SplitMix64(seed: 0xF022_0003)
            for round in 0..<150 {
                let members = (0..<Int.random(in: 0...250, using: &generator)).map { _ in
                    W3CBaggage.Member(
                        key: String(decoding: garbage(&generator, maxLength: 6), as: UTF8.self),
                        value: String(decoding: garbage(&generator, maxLength: 80), as: UTF8.self),
                        properties: Bool.random(using: &generator)
                            ? [.init(key: String(decoding: garbage(&generator, maxLength: 4), as: UTF8.self))] : [])
                }
                let header = W3CBaggage.serialize(members)
                #expect(header.utf8.count <= W3CBaggage.maxBytes, "round \(round)")
                let parsed = W3CBaggage.parse(header)
                expectWellFormed(parsed, "round \(round)")
                // Every member written is one given, with a valid key, in order.
                let valid = members.filter { member in
                    W3CBaggage.isValidKey(member.key) && member.properties.allSatisfy { W3CBaggage.isValidKey($0.key) }
                }
                #expect(isSubsequence(parsed, of: valid), "round \(round)")
                if parsed.count < min(valid.count, W3CBaggage.maxMembers) {
                    // A member was dropped for its size, which only happens
                    // when it would not fit: the header is within one
                    // member's size (at most 6 + 1 + 80 * 9 + 1 + 4 bytes
                    // encoded, as a garbage byte may become U+FFFD) of full.
                    #expect(header.utf8.count > W3CBaggage.maxBytes - 732, "round \(round)")
                }
            }
        }
    }
}

private func isSubsequence(_ small: [W3CBaggage.Member], of large: [W3CBaggage.Member]) -> Bool {
    var iterator = large.makeIterator()
    return small.allSatisfy { member in
        while let next = iterator.next() {
            if next == member { return true }
        }
        return false
    }
}
