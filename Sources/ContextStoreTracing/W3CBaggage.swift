/// The W3C Baggage format (https://www.w3.org/TR/baggage/): the value of
/// a `baggage` HTTP header, parsed and written. Pure functions over
/// strings, with no I/O and no context: ``W3CBaggagePropagator`` builds on
/// them.
///
/// ```swift
/// let members = W3CBaggage.parse("userId=alice,serverNode=DF%2028,isProduction=false")
/// members[1].value                          // "DF 28"
/// W3CBaggage.serialize(members)             // "userId=alice,serverNode=DF%2028,isProduction=false"
/// ```
///
/// ## The grammar
///
/// The spec's section "Definition":
///
/// ```
/// baggage-string = list-member 0*179( OWS "," OWS list-member )
/// list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
/// property       = key OWS "=" OWS value / key OWS
/// key            = token                       ; RFC 7230, section 3.2.6
/// value          = *baggage-octet              ; percent-encoded UTF-8
/// ```
///
/// ## Keys are literal, values are percent-encoded
///
/// A key is a token and is taken as it is: `%` is a token character like
/// `!` or `~`, so `user%20id` is the key `user%20id`, not `user id`. The
/// spec percent-encodes values and property values only, and the W3C
/// reference parser and OpenTelemetry Go read keys the same way.
/// OpenTelemetry Python, JS, .NET and Rust percent-decode keys, and Python
/// encodes every key character outside `[A-Za-z0-9_.~-]` when it sends
/// (a space as `+`). A key made only of those characters therefore means
/// the same to every implementation; any other key received from them is
/// kept, and forwarded, byte for byte, so a later hop that decodes keys
/// still reads the key its sender meant. Decoding keys would instead make
/// `request_id` and `request%5Fid` one key, and could yield keys that are
/// not tokens at all.
///
/// Values (and property values) are percent-decoded as RFC 3986, section
/// 2.1, says: `%XX` is a byte and `+` is a plus sign, as the spec, the
/// reference parser, Go, JS and .NET read it. OpenTelemetry Python (1.45.3,
/// the release the tests' fixtures come from) sends a space as `+`; such a
/// value is read with a `+` where the sender had a space. Invalid UTF-8 becomes U+FFFD, as the
/// spec's "value" section requires. Written values are percent-encoded
/// with uppercase hex: every byte that is not a baggage-octet, and `%` and
/// `+`, so that a receiver that decodes `+` as a space (Python) still
/// reads a plus sign.
///
/// A member that ``parse(_:)`` returns remembers how its value (and its
/// properties' values) were encoded, and ``serialize(_:)`` writes it back
/// that way for as long as the value is unchanged. A received header is
/// therefore forwarded as it came, only without its optional whitespace: a
/// value that Python sent with `+` for a space reaches the next Python
/// service as it left the first one. Members compare equal by their
/// decoded values.
///
/// ## What is kept and what is dropped
///
/// The spec's "Limits" section: a platform MUST propagate every list-member
/// when the resulting baggage-string holds at most 64 list-members and at
/// most 8,192 bytes, counted over all `baggage` headers together, and MAY
/// drop list-members beyond that, but never propagate a partial one.
///
/// - Parsing keeps each well-formed list-member, properties included, in
///   order, duplicates included. It skips a malformed list-member and keeps
///   the others: the spec's "Mutating baggage" section allows that ("If a
///   system determines that the value of a baggage entry is not in the
///   format defined in this specification, it MAY remove that entry before
///   propagating").
/// - Parsing keeps a member only while the members kept so far, written
///   out, still fit in ``maxMembers`` (180) members and ``maxBytes``
///   (8,192) bytes, commas included: the limits ``serialize(_:)`` writes
///   within. A member that does not fit is dropped whole and later ones
///   that fit are kept. A received header (several header lines joined
///   with `,` count as one) of at most 8,192 bytes is therefore kept whole,
///   up to 180 members: more than the 64 the spec requires, and the most
///   its grammar allows. Its optional whitespace and malformed members do
///   not count, as they are not written out.
/// - Parsing reads at most the first ``maxReadBytes`` (16,384) bytes of a
///   header and never looks at the rest, so a huge header costs no more
///   than a full one; a member cut short there is not kept.
/// - Serialising writes list-members in order. A member with a key (or
///   property key) that is not a token is dropped. Past the limits, members
///   are dropped whole: a member that would take the string past
///   ``maxBytes`` is dropped and later members that still fit are kept;
///   members after the ``maxMembers``th kept one are dropped.
public enum W3CBaggage {
    /// The most list-members this implementation keeps in a baggage-string
    /// it reads or writes: the grammar's `list-member 0*179( ... )`, above
    /// the 64 the spec's "Limits" section requires.
    ///
    /// ```swift
    /// W3CBaggage.maxMembers  // 180
    /// ```
    public static let maxMembers = 180

    /// The most bytes of a baggage-string this implementation writes, and
    /// keeps of one it reads, counted as written (commas included, optional
    /// whitespace not): the 8,192 bytes the spec's "Limits" section says a
    /// platform must propagate.
    ///
    /// ```swift
    /// W3CBaggage.maxBytes  // 8192
    /// ```
    public static let maxBytes = 8192

    /// The most bytes of a received header ``parse(_:)`` reads; it never
    /// looks further. Twice ``maxBytes``, so that optional whitespace, the
    /// commas that join several header lines and malformed members, none of
    /// which is written out, do not push members that fit out of reach.
    ///
    /// ```swift
    /// W3CBaggage.maxReadBytes  // 16384
    /// ```
    public static let maxReadBytes = 2 * maxBytes

    /// One list-member: a key, its decoded value and its properties.
    ///
    /// ```swift
    /// let member = W3CBaggage.Member(key: "userId", value: "Amélie")
    /// W3CBaggage.serialize([member])  // "userId=Am%C3%A9lie"
    /// ```
    ///
    /// Two members are equal when their keys, decoded values and properties
    /// are; a member ``W3CBaggage/parse(_:)`` made also keeps its value as
    /// received, for ``W3CBaggage/serialize(_:)`` (see ``W3CBaggage``).
    public struct Member: Sendable, Hashable {
        /// The key, an RFC 7230 token (never percent-decoded).
        public var key: String
        /// The value, decoded.
        public var value: String {
            didSet { receivedValue = nil }
        }
        /// The properties, in order. The spec gives them no meaning.
        public var properties: [Property]
        /// The value as received (percent-encoded baggage-octets), while
        /// `value` is unchanged since `parse` made the member; else nil.
        var receivedValue: String?

        /// A member with `key`, `value` and `properties`.
        ///
        /// ```swift
        /// W3CBaggage.Member(key: "key1", value: "value1", properties: [.init(key: "property1")])
        /// ```
        public init(key: String, value: String, properties: [Property] = []) {
            self.key = key
            self.value = value
            self.properties = properties
        }

        /// Whether `lhs` and `rhs` have equal keys, decoded values and
        /// properties, however their values were encoded when received.
        ///
        /// ```swift
        /// W3CBaggage.parse("k=%41") == [W3CBaggage.Member(key: "k", value: "A")]  // true
        /// ```
        public static func == (lhs: Member, rhs: Member) -> Bool {
            lhs.key == rhs.key && lhs.value == rhs.value && lhs.properties == rhs.properties
        }

        /// Hashes the key, the decoded value and the properties.
        ///
        /// ```swift
        /// Set(W3CBaggage.parse("k=%41,k=A")).count  // 1
        /// ```
        public func hash(into hasher: inout Hasher) {
            hasher.combine(key)
            hasher.combine(value)
            hasher.combine(properties)
        }
    }

    /// One property of a list-member: `;key` or `;key=value`.
    ///
    /// ```swift
    /// W3CBaggage.Property(key: "propertyKey", value: "propertyValue")
    /// ```
    public struct Property: Sendable, Hashable {
        /// The key, an RFC 7230 token (never percent-decoded).
        public var key: String
        /// The value, decoded; nil for a property that is a key alone.
        public var value: String? {
            didSet { receivedValue = nil }
        }
        /// The value as received, while `value` is unchanged since `parse`
        /// made the property; else nil.
        var receivedValue: String?

        /// A property `key`, or `key=value`.
        ///
        /// ```swift
        /// W3CBaggage.Property(key: "property1")  // ;property1
        /// ```
        public init(key: String, value: String? = nil) {
            self.key = key
            self.value = value
        }

        /// Whether `lhs` and `rhs` have equal keys and decoded values.
        ///
        /// ```swift
        /// W3CBaggage.Property(key: "p", value: "a b") == W3CBaggage.Property(key: "p", value: "a b")  // true
        /// ```
        public static func == (lhs: Property, rhs: Property) -> Bool {
            lhs.key == rhs.key && lhs.value == rhs.value
        }

        /// Hashes the key and the decoded value.
        ///
        /// ```swift
        /// Set([W3CBaggage.Property(key: "p"), W3CBaggage.Property(key: "p")]).count  // 1
        /// ```
        public func hash(into hasher: inout Hasher) {
            hasher.combine(key)
            hasher.combine(value)
        }
    }

    /// Whether `key` can be a baggage key: a non-empty RFC 7230 token.
    ///
    /// ```swift
    /// W3CBaggage.isValidKey("request_id")  // true
    /// W3CBaggage.isValidKey("request id")  // false
    /// ```
    public static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.allSatisfy(_BaggageOctets.isTokenChar)
    }
}
