// A libFuzzer target over the W3C Baggage codec: `W3CBaggage.parse` and
// `W3CBaggage.serialize`. The codec's four files depend on nothing else, so
// `make fuzz-baggage` compiles them with this one into a single module
// (`swiftc -sanitize=fuzzer,address`, no package), which lets it read the
// parser's step count. Each input is used twice:
//
// 1. As a received header. What `parse` keeps obeys the grammar and the
//    limits; `serialize` writes all of it within the limits, and parsing
//    that gives the same members and the same string again; the members
//    equal those of a plain reference parser (split on `,`, `;` and the
//    first `=`) under the same budget; and the parser's counted steps stay
//    under `_BaggageParser.maxSteps`, linear in the input and constant past
//    `maxReadBytes`, so no input makes it do more than a bounded amount of
//    work. The same members, made afresh (no received encodings), written
//    in the canonical encoding, parse back as the greedy budget says.
// 2. As members to send: NUL-separated fields, key then value, each key
//    field's 0x01-separated tail its properties. `serialize` keeps exactly
//    the members with token keys that fit, in order, and parsing its output
//    gives them back with the same decoded values.
//
// A failed check traps (`fatalError`), which libFuzzer reports as a crash
// and saves to Tests/BaggageFuzz/crashes.

/// libFuzzer's entry point: checks the codec on one input, `size` bytes at
/// `data`, and returns 0; a failed check traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func baggageFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkReceived(String(decoding: bytes, as: UTF8.self))
    checkSent(members(from: bytes))
    return 0
}

private typealias Member = W3CBaggage.Member
private typealias Property = W3CBaggage.Property

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

// MARK: 1. Received headers

private func checkReceived(_ header: String) {
    var parser = _BaggageParser(header)
    let members = parser.members()
    let bound = _BaggageParser.maxSteps(forHeaderBytes: header.utf8.count)
    check(parser.steps <= bound, "\(parser.steps) steps for \(header.utf8.count) bytes; the bound is \(bound)")

    check(members.count <= W3CBaggage.maxMembers, "\(members.count) members")
    for member in members {
        check(W3CBaggage.isValidKey(member.key), "key \(member.key)")
        check(member.properties.allSatisfy { W3CBaggage.isValidKey($0.key) }, "property keys of \(member.key)")
    }
    check(members == referenceParse(header), "parse differs from the reference parser")

    // Written whole, within the limits, and a fixed point.
    let written = W3CBaggage.serialize(members)
    check(written.utf8.count <= W3CBaggage.maxBytes, "\(written.utf8.count) bytes written")
    let again = W3CBaggage.parse(written)
    check(again == members, "parse(serialize(parse(x))) != parse(x)")
    check(W3CBaggage.serialize(again) == written, "serialize(parse(written)) != written")
    check(written.utf8.allSatisfy { $0 != 0x20 && $0 != 0x09 }, "OWS written")

    // The same members made afresh are written canonically, which may be
    // longer (U+FFFD, a bare `%` or `+`): what fits is kept, in order.
    let fresh = members.map { member in
        Member(
            key: member.key, value: member.value,
            properties: member.properties.map { Property(key: $0.key, value: $0.value) })
    }
    let canonical = W3CBaggage.serialize(fresh)
    check(canonical.utf8.count <= W3CBaggage.maxBytes, "\(canonical.utf8.count) bytes written canonically")
    check(W3CBaggage.parse(canonical) == greedy(fresh), "canonical members differ")
}

/// The members of `header` as a plain parser sees them: the part of it
/// `parse` reads split with the standard library, each member kept if it
/// fits the budget by its size as received.
private func referenceParse(_ header: String) -> [Member] {
    var bytes = Array(header.utf8)
    if bytes.count > W3CBaggage.maxReadBytes {
        // Only members that end within the window are whole.
        guard let lastComma = bytes[...W3CBaggage.maxReadBytes].lastIndex(of: UInt8(ascii: ",")) else { return [] }
        bytes = Array(bytes[..<lastComma])
    }
    var members: [Member] = []
    var budget = _BaggageBudget()
    for raw in bytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
        if budget.isFull { break }
        let parts = raw.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        guard let head = parts.first.flatMap(referencePart), let value = head.value else { continue }
        var member = Member(key: head.key, value: value.decoded)
        var size = head.key.utf8.count + 1 + value.raw.count
        var valid = true
        for part in parts.dropFirst() {
            guard let property = referencePart(part) else {
                valid = false
                break
            }
            member.properties.append(Property(key: property.key, value: property.value?.decoded))
            size += 1 + property.key.utf8.count + (property.value.map { 1 + $0.raw.count } ?? 0)
        }
        if valid, budget.admit(size: size) { members.append(member) }
    }
    return members
}

/// RFC 7230's `tchar`, and the spec's `baggage-octet`, written out afresh.
private let tchars = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
private let baggageOctets = Set((0x21...0x7E).map(UInt8.init)).subtracting("\",;\\".utf8)

private func referencePart(_ bytes: ArraySlice<UInt8>) -> (key: String, value: (raw: [UInt8], decoded: String)?)? {
    let isOWS = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
    let trim = { (slice: ArraySlice<UInt8>) in Array(slice.drop(while: isOWS).reversed().drop(while: isOWS).reversed())
    }
    let pieces = bytes.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
    let key = trim(pieces[0])
    guard !key.isEmpty, key.allSatisfy(tchars.contains) else { return nil }
    guard pieces.count == 2 else { return (String(decoding: key, as: UTF8.self), nil) }
    let raw = trim(pieces[1])
    guard raw.allSatisfy(baggageOctets.contains) else { return nil }
    // %XX with two hex digits is a byte; anything else is itself.
    var decoded: [UInt8] = []
    var index = 0
    while index < raw.count {
        if raw[index] == UInt8(ascii: "%"), index + 2 < raw.count,
            let byte = UInt8(String(decoding: raw[(index + 1)...(index + 2)], as: UTF8.self), radix: 16),
            raw[(index + 1)...(index + 2)].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
        {
            decoded.append(byte)
            index += 3
        } else {
            decoded.append(raw[index])
            index += 1
        }
    }
    return (String(decoding: key, as: UTF8.self), (raw, String(decoding: decoded, as: UTF8.self)))
}

// MARK: 2. Members to send

/// Members from fuzz bytes: NUL-separated fields, key then value; a key
/// field's 0x01-separated tail gives its properties, `key` or `key=value`.
private func members(from bytes: [UInt8]) -> [Member] {
    let fields = bytes.split(separator: 0x00, omittingEmptySubsequences: false)
    return stride(from: 0, to: fields.count - 1, by: 2).map { index in
        let keyParts = fields[index].split(separator: 0x01, omittingEmptySubsequences: false)
        let properties = keyParts.dropFirst().map { part in
            let pieces = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            return Property(
                key: String(decoding: pieces[0], as: UTF8.self),
                value: pieces.count == 2 ? String(decoding: pieces[1], as: UTF8.self) : nil)
        }
        return Member(
            key: String(decoding: keyParts[0], as: UTF8.self),
            value: String(decoding: fields[index + 1], as: UTF8.self),
            properties: properties)
    }
}

private func checkSent(_ members: [Member]) {
    let written = W3CBaggage.serialize(members)
    check(written.utf8.count <= W3CBaggage.maxBytes, "\(written.utf8.count) bytes written")
    check(W3CBaggage.parse(written) == greedy(members), "parse(serialize(m)) is not what fits of m")
}

/// What fits of `members`, as the spec's limits and the codec's rules say:
/// members with token keys, in order, each kept if its canonical encoding
/// still fits, until `maxMembers` are kept. Sizes are counted here, apart
/// from the codec's encoder.
private func greedy(_ members: [Member]) -> [Member] {
    let safe = baggageOctets.subtracting("%+".utf8)
    let encodedSize = { (text: String) in text.utf8.reduce(0) { $0 + (safe.contains($1) ? 1 : 3) } }
    var kept: [Member] = []
    var budget = _BaggageBudget()
    for member in members {
        if budget.isFull { break }
        guard W3CBaggage.isValidKey(member.key), member.properties.allSatisfy({ W3CBaggage.isValidKey($0.key) })
        else { continue }
        let size = member.properties.reduce(member.key.utf8.count + 1 + encodedSize(member.value)) { size, property in
            size + 1 + property.key.utf8.count + (property.value.map { 1 + encodedSize($0) } ?? 0)
        }
        if budget.admit(size: size) { kept.append(member) }
    }
    return kept
}
