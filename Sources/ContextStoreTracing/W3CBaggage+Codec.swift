// Parsing and serialising baggage-strings. Everything here works on UTF-8
// bytes with checked indices and no force-unwraps, so that any input, valid
// or not, yields a result: `BaggageFuzzTests` feeds it random bytes.

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
    /// `,` (RFC 7230, section 3.2.2), and the limits apply to them together.
    /// Malformed list-members are skipped; at most ``maxMembers`` members,
    /// ending within the first ``maxBytes`` bytes, are kept (see
    /// ``W3CBaggage``).
    public static func parse(_ header: some StringProtocol) -> [Member] {
        var members: [Member] = []
        let bytes = Array(header.utf8.prefix(maxBytes + 1))
        var start = 0
        while start <= bytes.count, members.count < maxMembers {
            let end = bytes[start...].firstIndex(of: _BaggageOctets.comma) ?? bytes.count
            // A member that ends past the byte limit is cut short: never keep it.
            if end > maxBytes { break }
            if let member = parseMember(bytes[start..<end]) { members.append(member) }
            start = end + 1
        }
        return members
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
    /// whole (see ``W3CBaggage``). An empty result means nothing to send.
    public static func serialize(_ members: [Member]) -> String {
        var out = ""
        var byteCount = 0
        var kept = 0
        for member in members where kept < maxMembers {
            guard let encoded = encode(member) else { continue }
            let cost = encoded.utf8.count + (kept == 0 ? 0 : 1)
            guard byteCount + cost <= maxBytes else { continue }
            if kept > 0 { out.append(",") }
            out.append(encoded)
            byteCount += cost
            kept += 1
        }
        return out
    }

    // MARK: Reading

    /// `list-member = key OWS "=" OWS value *( OWS ";" OWS property )`, or
    /// nil if `bytes` is not one.
    static func parseMember(_ bytes: ArraySlice<UInt8>) -> Member? {
        var parts = bytes.split(separator: _BaggageOctets.semicolon, omittingEmptySubsequences: false)[...]
        guard let head = parts.popFirst(),
            let (key, value) = parseKeyValue(head),
            let value
        else { return nil }
        var properties: [Property] = []
        for part in parts {
            guard let (propertyKey, propertyValue) = parseKeyValue(part) else { return nil }
            properties.append(Property(key: propertyKey, value: propertyValue))
        }
        return Member(key: key, value: value, properties: properties)
    }

    /// `key OWS "=" OWS value` (value non-nil) or `key OWS` (value nil), with
    /// the OWS around both trimmed; nil if `bytes` is neither.
    private static func parseKeyValue(_ bytes: ArraySlice<UInt8>) -> (String, String?)? {
        // The first `=` splits: values may hold more of them.
        let equals = bytes.firstIndex(of: _BaggageOctets.equals)
        let rawKey = trimmingOWS(bytes[..<(equals ?? bytes.endIndex)])
        guard !rawKey.isEmpty, rawKey.allSatisfy(_BaggageOctets.isTokenChar) else { return nil }
        let key = String(decoding: rawKey, as: UTF8.self)
        guard let equals else { return (key, nil) }
        let rawValue = trimmingOWS(bytes[(equals + 1)...])
        guard rawValue.allSatisfy(_BaggageOctets.isBaggageOctet) else { return nil }
        return (key, _BaggageOctets.percentDecode(rawValue))
    }

    private static func trimmingOWS(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, _BaggageOctets.isOWS(first) { slice.removeFirst() }
        while let last = slice.last, _BaggageOctets.isOWS(last) { slice.removeLast() }
        return slice
    }

    // MARK: Writing

    /// `member` as a list-member, or nil if a key in it is not a token.
    static func encode(_ member: Member) -> String? {
        guard isValidKey(member.key) else { return nil }
        var out = member.key + "=" + _BaggageOctets.percentEncode(member.value)
        for property in member.properties {
            guard isValidKey(property.key) else { return nil }
            out += ";" + property.key
            if let value = property.value { out += "=" + _BaggageOctets.percentEncode(value) }
        }
        return out
    }
}
