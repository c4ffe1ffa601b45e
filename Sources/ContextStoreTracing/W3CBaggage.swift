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
/// ## What is kept and what is dropped
///
/// The grammar (spec section "Definition"):
///
/// ```
/// baggage-string = list-member 0*179( OWS "," OWS list-member )
/// list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
/// property       = key OWS "=" OWS value / key OWS
/// key            = token                       ; RFC 7230, section 3.2.6
/// value          = *baggage-octet              ; percent-encoded UTF-8
/// ```
///
/// - Parsing keeps each well-formed list-member, properties included, in
///   order, duplicates included. It skips a malformed list-member and keeps
///   the others: the spec's "Mutating baggage" section allows that ("If a
///   system determines that the value of a baggage entry is not in the
///   format defined in this specification, it MAY remove that entry before
///   propagating"). It keeps at most ``maxMembers`` list-members, and only
///   those that end within the first ``maxBytes`` bytes of the header, so a
///   huge header costs no more than a full one and no partial list-member is
///   ever kept. Percent-encoded values (and property values) are decoded;
///   invalid UTF-8 becomes U+FFFD, as the spec's "value" section requires.
/// - Serialising writes list-members in order, with values (and property
///   values) percent-encoded. A member with a key (or property key) that is
///   not a token is dropped. Past the limits, members are dropped whole
///   (spec section "Limits": "A platform MUST NOT propagate any partial
///   list-members"): a member that would take the string past ``maxBytes``
///   is dropped and later members that still fit are kept; members after
///   the ``maxMembers``th kept one are dropped.
public enum W3CBaggage {
    /// The most list-members a baggage-string holds: the grammar's
    /// `list-member 0*179( ... )`.
    ///
    /// ```swift
    /// W3CBaggage.maxMembers  // 180
    /// ```
    public static let maxMembers = 180

    /// The most bytes of a baggage-string this implementation writes, and
    /// reads: the 8,192 bytes the spec's "Limits" section says a platform
    /// must propagate.
    ///
    /// ```swift
    /// W3CBaggage.maxBytes  // 8192
    /// ```
    public static let maxBytes = 8192

    /// One list-member: a key, its decoded value and its properties.
    ///
    /// ```swift
    /// let member = W3CBaggage.Member(key: "userId", value: "Amélie")
    /// W3CBaggage.serialize([member])  // "userId=Am%C3%A9lie"
    /// ```
    public struct Member: Sendable, Hashable {
        /// The key, an RFC 7230 token (never percent-encoded).
        public var key: String
        /// The value, decoded.
        public var value: String
        /// The properties, in order. The spec gives them no meaning.
        public var properties: [Property]

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
    }

    /// One property of a list-member: `;key` or `;key=value`.
    ///
    /// ```swift
    /// W3CBaggage.Property(key: "propertyKey", value: "propertyValue")
    /// ```
    public struct Property: Sendable, Hashable {
        /// The key, an RFC 7230 token.
        public var key: String
        /// The value, decoded; nil for a property that is a key alone.
        public var value: String?

        /// A property `key`, or `key=value`.
        ///
        /// ```swift
        /// W3CBaggage.Property(key: "property1")  // ;property1
        /// ```
        public init(key: String, value: String? = nil) {
            self.key = key
            self.value = value
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
