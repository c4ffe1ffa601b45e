// Parsing and serialising baggage-strings. Everything here works on UTF-8
// bytes with checked indices and no force-unwraps, so that any input, valid
// or not, yields a result: `BaggageFuzzTests` feeds it random bytes, and
// the libFuzzer target in Tests/BaggageFuzz checks it under AddressSanitizer.
//
// Both directions keep within one budget, `_BaggageBudget`, counted as the
// string is written: so what `parse` keeps, `serialize` writes whole, and
// parsing that gives the same members again.

extension W3CBaggage {
    /// The well-formed list-members of a baggage-string, in order.
    ///
    /// ```swift
    /// let members = W3CBaggage.parse("key1=value1;property1;property2, key2 = value2")
    /// members.map(\.key)                // ["key1", "key2"]
    /// members[0].properties.map(\.key)  // ["property1", "property2"]
    /// members[1].value                  // "value2"
    /// ```
    ///
    /// Several `baggage` headers are one baggage-string once joined with
    /// `,` (RFC 7230, section 3.2.2), and the limits apply to them together:
    ///
    /// ```swift
    /// let lines = ["userId=alice", "serverNode=DF%2028,isProduction=false"]
    /// W3CBaggage.parse(lines.joined(separator: ",")).count  // 3
    /// ```
    ///
    /// Malformed list-members are skipped. Members are kept while the kept
    /// ones, as ``serialize(_:)`` would write them, fit in ``maxMembers``
    /// and ``maxBytes``; only the first ``maxReadBytes`` bytes are read (see
    /// ``W3CBaggage``). The work is linear in the header's length, and
    /// bounded whatever that length is.
    public static func parse(_ header: some StringProtocol) -> [Member] {
        var parser = _BaggageParser(header)
        return parser.members()
    }

    /// The baggage-string for `members`, in order, with values percent-encoded.
    ///
    /// ```swift
    /// W3CBaggage.serialize([
    ///     .init(key: "userId", value: "alice"),
    ///     .init(key: "serverNode", value: "DF 28"),
    /// ])  // "userId=alice,serverNode=DF%2028"
    /// ```
    ///
    /// Members with an invalid key, and members past the limits, are dropped
    /// whole (see ``W3CBaggage``). A member that ``parse(_:)`` made is
    /// written with its value encoded as it was received. An empty result
    /// means nothing to send.
    public static func serialize(_ members: [Member]) -> String {
        var out = ""
        var budget = _BaggageBudget()
        for member in members {
            if budget.isFull { break }
            guard let encoded = encode(member), budget.admit(size: encoded.utf8.count) else { continue }
            if budget.members > 1 { out.append(",") }
            out.append(encoded)
        }
        return out
    }

    /// `member` as a list-member, or nil if a key in it is not a token.
    /// Values go as they were received when `parse` made them, and else
    /// percent-encoded.
    static func encode(_ member: Member) -> String? {
        guard isValidKey(member.key) else { return nil }
        var out = member.key + "=" + (member.receivedValue ?? _BaggageOctets.percentEncode(member.value))
        for property in member.properties {
            guard isValidKey(property.key) else { return nil }
            out += ";" + property.key
            if let value = property.value {
                out += "=" + (property.receivedValue ?? _BaggageOctets.percentEncode(value))
            }
        }
        return out
    }
}

/// What a baggage-string has used of the limits while it is written or
/// read: at most `W3CBaggage.maxMembers` members and `W3CBaggage.maxBytes`
/// bytes, the commas between members included.
struct _BaggageBudget {
    /// The members admitted.
    private(set) var members = 0
    /// Their bytes as written, with a comma before each but the first.
    private(set) var bytes = 0

    /// Whether no further member can be admitted.
    var isFull: Bool { members >= W3CBaggage.maxMembers }

    /// Admits a member that takes `size` bytes written (its comma aside)
    /// if it fits, and says whether it did; one that does not fit uses
    /// nothing, so a later, smaller one may still fit.
    mutating func admit(size: Int) -> Bool {
        let cost = size + (members == 0 ? 0 : 1)
        guard !isFull, bytes + cost <= W3CBaggage.maxBytes else { return false }
        members += 1
        bytes += cost
        return true
    }
}
