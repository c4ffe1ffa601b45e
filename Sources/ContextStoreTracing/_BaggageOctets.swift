/// The byte classes and the percent-encoding of the W3C Baggage grammar.
enum _BaggageOctets {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let percent: UInt8 = 0x25
    static let plus: UInt8 = 0x2B

    /// OWS, RFC 7230 section 3.2.3: space or horizontal tab.
    static func isOWS(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    /// `tchar`, RFC 7230 section 3.2.6: "!#$%&'*+-.^_`|~", digits, letters.
    static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`:
    /// printable ASCII but DQUOTE, comma, semicolon and backslash.
    static func isBaggageOctet(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E: return true
        default: return false
        }
    }

    /// Whether a value's byte is written as `%XX`: every byte that is not a
    /// baggage-octet; `%`, so that a decoder never mistakes it for the start
    /// of an escape; and `+`, which form decoders (`application/x-www-form-
    /// urlencoded`, as OpenTelemetry Python uses) read as a space.
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte == percent || byte == plus || !isBaggageOctet(byte)
    }

    /// `value` percent-encoded (RFC 3986 section 2.1, uppercase hex): each
    /// UTF-8 byte that ``needsEscape(_:)`` as `%XX`, the others as they are.
    static func percentEncode(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if needsEscape(byte) {
                out.append(percent)
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `bytes` with each `%XX` escape decoded, read as UTF-8 with U+FFFD in
    /// place of invalid sequences (spec section "value"). A `%` not followed
    /// by two hex digits is kept as it is: it is a baggage-octet, so the
    /// value is well-formed, only not encoded as the spec asks. `+` is a
    /// plus sign (RFC 3986 has no form encoding). Adds one to `steps` per
    /// byte read.
    static func percentDecode(_ bytes: ArraySlice<UInt8>, steps: inout Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            steps += 1
            let byte = bytes[index]
            if byte == percent, bytes.endIndex - index >= 3,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
