import CContextStore
import Testing

@testable import ContextStore

// A name is a Swift `String`, and two names that are `==` are one key, as in
// a `Dictionary<String, _>`: canonically equivalent spellings (Unicode NFC)
// find the same entry, and `names` shows the NFC spelling. Names that are not
// `==` stay distinct keys.

extension ContextStoreTests {
    @Suite("Key names: Swift String equality")
    struct KeyNameEquivalenceTests {
        /// "café" spelled with U+00E9, and with "e" + U+0301.
        static let composed = "caf\u{E9}"
        static let decomposed = "cafe\u{301}"

        @Test func equalNamesAreOneKey() throws {
            #expect(Self.composed == Self.decomposed, "the premise: Swift calls them equal")
            #expect(Array(Self.composed.utf8) != Array(Self.decomposed.utf8), "with different bytes")
            let a = ContextKey<Int>(Self.composed)
            let b = ContextKey<Int>(Self.decomposed)
            #expect(a == b)
            try TaskContext.run {
                try TaskContext.set(a, 1)
                #expect(TaskContext.get(b) == 1)
                #expect(TaskContext.get(Self.decomposed) as? Int == 1)
                try TaskContext.set(b, 2)  // replaces, does not add
                #expect(TaskContext.get(a) == 2)
                #expect(TaskContext.current.count == 1)
                #expect(TaskContext.current.names == [Self.composed])
                #expect(TaskContext.current.names.map { Array($0.utf8) } == [Array(Self.composed.utf8)], "NFC")
                try TaskContext.remove(Self.decomposed)
                #expect(TaskContext.get(a) == nil)
                #expect(TaskContext.current.isEmpty)
            }
        }

        @Test func theValueAPIAgreesWithDictionary() throws {
            // Several equivalence classes, each in more than one spelling:
            // Hangul syllables and their jamo, a letter with two marks in
            // either order (canonical ordering), and the ohm and kelvin signs
            // (singletons that NFC maps to omega and K).
            let spellings = [
                "caf\u{E9}", "cafe\u{301}",
                "\u{D55C}", "\u{1112}\u{1161}\u{11AB}",
                "q\u{307}\u{323}", "q\u{323}\u{307}",
                "\u{2126}", "\u{3A9}",
                "\u{212A}", "K",
                "plain",
            ]
            var model: [String: Int] = [:]
            var context = TaskContext()
            for (value, name) in spellings.enumerated() {
                model[name] = value
                context = try context.setting(name, value)
            }
            #expect(context.count == model.count)
            for name in spellings {
                #expect(context[name] as? Int == model[name], "\(name.debugDescription)")
                #expect(context[ContextKey<Int>(name)] == model[name], "\(name.debugDescription)")
            }
            #expect(Set(context.names) == Set(model.keys.map { String(decoding: $0._nfcCodeUnits, as: UTF8.self) }))
            for name in context.names { #expect(model[name] != nil, "\(name.debugDescription) is a spelling of a key") }
        }

        @Test func unequalNamesStayDistinct() throws {
            // Each pair is not `==` in Swift, so each is two keys here.
            let pairs: [(String, String)] = [
                ("\u{FB01}", "fi"),  // a compatibility ligature: NFKC would merge these, NFC does not
                ("Name", "name"),  // case
                ("a\0b", "ab"),  // a NUL byte
                ("", "\0"),  // the empty name and a NUL
                ("\u{2460}", "1"),  // circled digit one, another compatibility form
                ("e\u{301}", "e"),  // a combining mark is part of the name
            ]
            for (x, y) in pairs {
                #expect(x != y, "the premise: \(x.debugDescription) != \(y.debugDescription)")
                try TaskContext.run {
                    try TaskContext.set(ContextKey<Int>(x), 1)
                    try TaskContext.set(ContextKey<Int>(y), 2)
                    #expect(TaskContext.get(ContextKey<Int>(x)) == 1, "\(x.debugDescription)")
                    #expect(TaskContext.get(y) as? Int == 2, "\(y.debugDescription)")
                    #expect(TaskContext.current.count == 2)
                }
            }
        }

        /// The C API keeps exact bytes: the decomposed bytes are another key
        /// there, and the NFC bytes are the Swift name's key.
        @Test func theCAPIKeepsExactBytes() throws {
            let store = _Store.raw
            func internFromC(_ bytes: [UInt8]) -> UInt64 {
                var id: UInt64 = 0
                let status = bytes.withUnsafeBytes { ctxs_intern(store, $0.baseAddress, $0.count, &id) }
                #expect(status == CTXS_OK.rawValue)
                return id
            }
            let swiftID = try #require(_Store.intern(Self.decomposed))
            #expect(internFromC(Array(Self.composed.utf8)) == swiftID, "Swift interns the NFC bytes")
            #expect(internFromC(Array(Self.decomposed.utf8)) != swiftID, "C interns what it is given")
        }

        @Test func asciiNamesOfEveryLengthAreThemselves() throws {
            // The ASCII fast path scans eight bytes at a time: lengths around
            // the word boundaries, with the one non-ASCII byte at each place.
            for length in 0...20 {
                let ascii = String(repeating: "k", count: length)
                #expect(_withKeyNameBytes(ascii) { bytes, _ in Array(bytes) } == Array(ascii.utf8))
                for at in 0..<length {
                    var composed = Array(ascii.unicodeScalars)
                    composed[at] = "\u{E9}"
                    var decomposed = Array(ascii.unicodeScalars)
                    decomposed[at] = "e"
                    decomposed.insert("\u{301}", at: at + 1)
                    let name = String(String.UnicodeScalarView(composed))
                    let spelled = String(String.UnicodeScalarView(decomposed))
                    let bytes = _withKeyNameBytes(spelled) { bytes, _ in Array(bytes) }
                    #expect(bytes == Array(name.utf8), "length \(length), at \(at)")
                }
            }
        }
    }
}
