/// The byte classes and the percent-encoding of the W3C Baggage grammar.
enum _BaggageOctets {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let percent: UInt8 = 0x25

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

    /// `value` percent-encoded (RFC 3986 section 2.1, uppercase hex): every
    /// UTF-8 byte that is not a baggage-octet, and `%` itself so that a
    /// decoder never mistakes it for an escape.
    static func percentEncode(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if isBaggageOctet(byte) && byte != percent {
                out.append(byte)
            } else {
                out.append(percent)
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `bytes` with each `%XX` escape decoded, read as UTF-8 with U+FFFD in
    /// place of invalid sequences (spec section "value"). A `%` not followed
    /// by two hex digits is kept as it is: it is a baggage-octet, so the
    /// value is well-formed, only not encoded as the spec asks.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
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
