// The reader behind `W3CBaggage.parse(_:)`. A received header is untrusted
// input (baggage parsers have had advisories for many header lines, for one
// member with thousands of properties, and for reading any length before
// checking it), so the work here is bounded by construction, and counted:
//
// - `init` copies at most `maxReadBytes + 1` bytes of the header (the byte
//   past the window says whether the last member in it is whole) and
//   nothing here ever looks at the rest.
// - Every loop walks forward over those bytes and never back: commas split
//   the members once, semicolons split each member into its parts once, and
//   each part is read by a fixed number of passes over its own bytes (find
//   `=`, trim OWS, check the key, check and decode the value). So each byte
//   is visited a bounded number of times, whatever its neighbours are.
// - `steps` counts the work: one per byte copied, per byte each loop
//   visits and per byte made into a string, and one per member and per
//   part. `maxSteps(forHeaderBytes:)` is the bound the tests and the fuzzer
//   check: linear in the header's length, and constant past the window.
//
//   a header:  k1 = v1 ;p1=x , k2=v%202 , ...............|.........
//              |----- member -----|--- member ---| ...   |
//              0                               maxReadBytes  never read

/// The bounded, counted reader of a received baggage-string (see above).
struct _BaggageParser {
    /// The most `steps` per byte read. A byte is copied, passed by the
    /// comma scan and by the semicolon scan, and then, in a key, passed by
    /// the `=` scan, checked and made into a string, or, in a value,
    /// checked, made into a string and decoded: 6 steps (OWS is trimmed
    /// instead of checked, and costs fewer). A member or a part costs one
    /// more, and starts after a comma or a semicolon, which cost at most 3.
    /// So a header costs at most 7 steps a byte, and 10 leaves room.
    static let stepsPerByte = 10

    /// The most `steps` a header of `count` bytes may take: linear up to
    /// `maxReadBytes`, and the same for any longer header.
    static func maxSteps(forHeaderBytes count: Int) -> Int {
        stepsPerByte * (min(count, W3CBaggage.maxReadBytes + 1) + 1)
    }

    /// The header's first bytes: at most `maxReadBytes + 1`.
    private let bytes: [UInt8]

    /// The work done so far, as the file's comment counts it.
    private(set) var steps: Int

    /// A reader of `header`'s first `maxReadBytes + 1` bytes.
    init(_ header: some StringProtocol) {
        bytes = Array(header.utf8.prefix(W3CBaggage.maxReadBytes + 1))
        steps = bytes.count
    }

    /// One part of a list-member: `key` or `key=value`, OWS trimmed.
    private struct Part {
        var key: String
        /// The value as received and decoded; nil for a key alone.
        var value: (received: String, decoded: String)?
        /// The bytes it takes when written: key, `=` and received value.
        var size: Int
    }

    /// The well-formed list-members within the window, in order, each kept
    /// only while all kept so far fit `_BaggageBudget` as written.
    mutating func members() -> [W3CBaggage.Member] {
        var members: [W3CBaggage.Member] = []
        var budget = _BaggageBudget()
        let window = min(bytes.count, W3CBaggage.maxReadBytes)
        var start = 0
        while start <= window, !budget.isFull {
            steps += 1
            let end = firstIndex(of: _BaggageOctets.comma, in: start..<bytes.count)
            // A member that runs past the window is cut short: never keep it.
            if end > window { break }
            if let (member, size) = member(in: start..<end), budget.admit(size: size) {
                members.append(member)
            }
            start = end + 1
        }
        return members
    }

    /// `list-member = key OWS "=" OWS value *( OWS ";" OWS property )` in
    /// `range`, with its size as written; nil if `range` is not one.
    private mutating func member(in range: Range<Int>) -> (W3CBaggage.Member, size: Int)? {
        var member: W3CBaggage.Member?
        var size = 0
        var start = range.lowerBound
        while start <= range.upperBound {
            steps += 1
            let end = firstIndex(of: _BaggageOctets.semicolon, in: start..<range.upperBound)
            guard let part = part(in: start..<end) else { return nil }
            if member == nil {
                guard let value = part.value else { return nil }
                var head = W3CBaggage.Member(key: part.key, value: value.decoded)
                head.receivedValue = value.received
                member = head
                size = part.size
            } else {
                var property = W3CBaggage.Property(key: part.key, value: part.value?.decoded)
                property.receivedValue = part.value?.received
                member?.properties.append(property)
                size += 1 + part.size
            }
            start = end + 1
        }
        return member.map { ($0, size) }
    }

    /// `key OWS "=" OWS value` or `key OWS` in `range`, OWS trimmed; nil
    /// if `range` is neither. The first `=` splits: a value may hold more.
    private mutating func part(in range: Range<Int>) -> Part? {
        let equals = firstIndex(of: _BaggageOctets.equals, in: range)
        let keyRange = trimmingOWS(range.lowerBound..<equals)
        guard !keyRange.isEmpty, allSatisfy(keyRange, _BaggageOctets.isTokenChar) else { return nil }
        steps += keyRange.count
        let key = String(decoding: bytes[keyRange], as: UTF8.self)
        guard equals < range.upperBound else { return Part(key: key, value: nil, size: keyRange.count) }
        let valueRange = trimmingOWS(equals + 1..<range.upperBound)
        guard allSatisfy(valueRange, _BaggageOctets.isBaggageOctet) else { return nil }
        steps += valueRange.count
        let received = String(decoding: bytes[valueRange], as: UTF8.self)
        let decoded = _BaggageOctets.percentDecode(bytes[valueRange], steps: &steps)
        return Part(key: key, value: (received, decoded), size: keyRange.count + 1 + valueRange.count)
    }

    // MARK: Counted primitives

    /// The index of the first `byte` in `range`, or its end.
    private mutating func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int {
        var index = range.lowerBound
        while index < range.upperBound, bytes[index] != byte {
            steps += 1
            index += 1
        }
        return index
    }

    /// `range` without the OWS at either end.
    private mutating func trimmingOWS(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, _BaggageOctets.isOWS(bytes[lower]) {
            steps += 1
            lower += 1
        }
        while upper > lower, _BaggageOctets.isOWS(bytes[upper - 1]) {
            steps += 1
            upper -= 1
        }
        return lower..<upper
    }

    /// Whether every byte in `range` is one `isAllowed` accepts.
    private mutating func allSatisfy(_ range: Range<Int>, _ isAllowed: (UInt8) -> Bool) -> Bool {
        for index in range {
            steps += 1
            guard isAllowed(bytes[index]) else { return false }
        }
        return true
    }
}
