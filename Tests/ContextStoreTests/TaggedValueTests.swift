import Testing

@testable import ContextStore

// Small values stored in the store's word itself (see `_Stored`): Ints
// that fit in 61 bits, Bools, Strings of at most 7 UTF-8 bytes, and string
// literals of 16 to 1,023 bytes. Each must read back equal on every read
// path, whether it was tagged or (just past the limits) boxed, and a read
// of another type is nil.

private let name = "tagged.value"

/// Whether the value stored under `name` in the current scope is tagged.
private func isTagged() -> Bool? {
    guard let id = _Store.lookup(name) else { return nil }
    return TaskContext._withStored(id) { !_Stored.isObject($0) }
}

/// A String's two words, to tell one String from an equal one.
private func words(_ string: String) -> [UInt64] {
    let (first, second) = unsafeBitCast(string, to: (UInt64, UInt64).self)
    return [first, second]
}

/// A visitor that gives back what it is handed, as a `Wanted`.
private struct Handed<Wanted: Sendable>: _ValueVisitor {
    func visit<Value: Sendable>(_ value: Value) -> Wanted? { value as? Wanted }
}

/// Every way of reading `name` back as a `Value`, in the current scope.
private func readings<Value: Sendable>(_: Value.Type) -> [Value?] {
    let key = ContextKey<Value>(name)
    let current = TaskContext.current
    let entry = current.entries.first { $0.name == name }?.value
    return [
        current._visit(ContextKey<any Sendable>(name), Handed<Value>()) ?? nil,
        TaskContext.get(key), TaskContext.get(name) as? Value, current[key], current[name] as? Value,
        entry as? Value, TaskContext.get(ContextKey<any Sendable>(name)) as? Value,
        TaskContext.get(ContextKey<Value?>(name)).flatMap { $0 }, TaskContext.get(name, as: Value.self),
        TaskContext.get(name, as: Value?.self).flatMap { $0 },
    ]
}

extension ContextStoreTests {
    @Suite("Tagged values")
    struct TaggedValueTests {
        @Test(arguments: [
            0, 1, -1, 42, (1 << 60) - 1, -(1 << 60), 1 << 60, -(1 << 60) - 1, Int.max, Int.min,
        ])
        func intsRoundTrip(_ value: Int) throws {
            try TaskContext.run {
                try TaskContext.set(ContextKey<Int>(name), value)
                let fits = value >= -(1 << 60) && value < 1 << 60
                #expect(isTagged() == fits, "tagged exactly when it fits in 61 bits")
                #expect(readings(Int.self).allSatisfy { $0 == value }, "\(readings(Int.self))")
                #expect(TaskContext.get(ContextKey<UInt>(name)) == nil)
                #expect(TaskContext.get(name, as: UInt.self) == nil)
                #expect(TaskContext.get(ContextKey<Int64>(name)) == nil)
                #expect(TaskContext.get(ContextKey<String>(name)) == nil)
                #expect(TaskContext.get(ContextKey<Bool>(name)) == nil)
                #expect(TaskContext.current.description.contains("\(value)"))
            }
            let persistent = try TaskContext().setting(ContextKey<Int>(name), value)
            #expect(persistent[ContextKey<Int>(name)] == value)
            #expect(persistent[name] as? Int == value)
        }

        @Test(arguments: [true, false])
        func boolsRoundTrip(_ value: Bool) throws {
            try TaskContext.run {
                try TaskContext.set(ContextKey<Bool>(name), value)
                #expect(isTagged() == true)
                #expect(readings(Bool.self).allSatisfy { $0 == value })
                #expect(TaskContext.get(ContextKey<Int>(name)) == nil)
                #expect(TaskContext.get(ContextKey<String>(name)) == nil)
            }
        }

        @Test(arguments: [
            ("", true), ("a", true), ("ada", true), ("en_US", true), ("abcdefg", true), ("abcdefgh", false),
            ("\u{E9}", true), ("caf\u{E9}", true), ("日本", true), ("日本語", false), ("a\u{0}b", true),
            ("cafe\u{301}", true), ("🙂🙂", false), ("a literal of more than fifteen bytes", false),
            ("la clé de l'utilisateur numéro un", false), ("cafe\u{301} cafe\u{301} cafe\u{301}", false),
            ("a literal\u{0}with a NUL byte in it", false),
        ])
        func stringsRoundTrip(_ value: String, small: Bool) throws {
            // The literal, and the same string made at run time. A small
            // string (at most 7 bytes) is tagged either way; a literal too
            // long to be small (more than 15 bytes) is tagged by its address
            // (`literalTag`); built at run time, it is boxed.
            let literal = small || value.utf8.count > 15
            for (string, tagged) in [(value, literal), (String(decoding: Array(value.utf8), as: UTF8.self), small)] {
                try TaskContext.run {
                    try TaskContext.set(ContextKey<String>(name), string)
                    #expect(isTagged() == tagged, "tagged exactly when small (7 bytes) or a literal")
                    for read in readings(String.self) {
                        #expect(read == value)
                        #expect(read.map { Array($0.utf8) } == Array(value.utf8), "the same bytes")
                        #expect(read?.count == value.count)
                        #expect(read?.hashValue == value.hashValue)
                        #expect(read.map { $0 + "!" } == value + "!")
                        #expect(read.map(words) == words(string), "the very String that was stored, bit for bit")
                    }
                    #expect(TaskContext.get(ContextKey<Substring>(name)) == nil)
                    #expect(TaskContext.get(name, as: Substring.self) == nil)
                    #expect(TaskContext.get(ContextKey<Int>(name)) == nil)
                    #expect(TaskContext.current.description.contains(String(reflecting: value)))
                }
                // A persistent context stores it the same way.
                let persistent = try TaskContext().setting(ContextKey<String>(name), string)
                for read in [persistent[ContextKey<String>(name)], persistent[name] as? String] {
                    #expect(read.map(words) == words(string), "the very String that was stored, bit for bit")
                }
            }
        }

        /// A literal of 1,023 bytes, its count's 10 bits, is tagged.
        @Test func literalsAreTaggedUpTo1023Bytes() throws {
            // 32 lines of 31 bytes, each its own, and the 31 line breaks between them.
            let fits = """
                00 aaaaaaaaaaaaaaaaaaaaaaaaaaaa
                01 bbbbbbbbbbbbbbbbbbbbbbbbbbbb
                02 cccccccccccccccccccccccccccc
                03 dddddddddddddddddddddddddddd
                04 eeeeeeeeeeeeeeeeeeeeeeeeeeee
                05 ffffffffffffffffffffffffffff
                06 gggggggggggggggggggggggggggg
                07 hhhhhhhhhhhhhhhhhhhhhhhhhhhh
                08 iiiiiiiiiiiiiiiiiiiiiiiiiiii
                09 jjjjjjjjjjjjjjjjjjjjjjjjjjjj
                10 kkkkkkkkkkkkkkkkkkkkkkkkkkkk
                11 llllllllllllllllllllllllllll
                12 mmmmmmmmmmmmmmmmmmmmmmmmmmmm
                13 nnnnnnnnnnnnnnnnnnnnnnnnnnnn
                14 oooooooooooooooooooooooooooo
                15 pppppppppppppppppppppppppppp
                16 qqqqqqqqqqqqqqqqqqqqqqqqqqqq
                17 rrrrrrrrrrrrrrrrrrrrrrrrrrrr
                18 ssssssssssssssssssssssssssss
                19 tttttttttttttttttttttttttttt
                20 uuuuuuuuuuuuuuuuuuuuuuuuuuuu
                21 vvvvvvvvvvvvvvvvvvvvvvvvvvvv
                22 wwwwwwwwwwwwwwwwwwwwwwwwwwww
                23 xxxxxxxxxxxxxxxxxxxxxxxxxxxx
                24 yyyyyyyyyyyyyyyyyyyyyyyyyyyy
                25 zzzzzzzzzzzzzzzzzzzzzzzzzzzz
                26 AAAAAAAAAAAAAAAAAAAAAAAAAAAA
                27 BBBBBBBBBBBBBBBBBBBBBBBBBBBB
                28 CCCCCCCCCCCCCCCCCCCCCCCCCCCC
                29 DDDDDDDDDDDDDDDDDDDDDDDDDDDD
                30 EEEEEEEEEEEEEEEEEEEEEEEEEEEE
                31 FFFFFFFFFFFFFFFFFFFFFFFFFFFF
                """
            // One byte more is refused: see
            // `literalWordsAreTakenOnlyWhenTheyComeBackExactly`.
            #expect(fits.utf8.count == 1_023)
            try TaskContext.run {
                try TaskContext.set(ContextKey<String>(name), fits)
                #expect(isTagged() == true)
                for read in readings(String.self) {
                    #expect(read == fits)
                    #expect(read.map(words) == words(fits))
                }
            }
        }

        /// The words a literal's tag takes, and those it refuses because it
        /// could not rebuild them exactly. Made up, not real strings: words
        /// that are not a real String are never made into one.
        #if _pointerBitWidth(_64)
            @Test func literalWordsAreTakenOnlyWhenTheyComeBackExactly() {
                let address: UInt64 = 0x5555_1234_5678
                let ascii: (UInt64, UInt64) = (0xD000 << 48 | 100, 0x80 << 56 | address)
                let unicode: (UInt64, UInt64) = (0x1000 << 48 | 1_023, 0x80 << 56 | (1 << 50 - 1))
                for words in [ascii, unicode] {
                    let tagged = _Stored.tag(words: words)
                    #expect(tagged.map { $0 & _Stored.tagMask } == _Stored.literalTag)
                    #expect(tagged.map { _Stored.literalWords($0) == words } == true, "both words come back")
                }
                let refused: [(UInt64, UInt64)] = [
                    (0xD000 << 48 | 1_024, 0x80 << 56 | address),  // a count of more than 10 bits
                    (0xD000 << 48 | 100, 0x80 << 56 | 1 << 50),  // an address of more than 50 bits
                    (0xF000 << 48 | 100, 0x80 << 56 | address),  // natively stored: not a literal's flags
                    (0xD001 << 48 | 100, 0x80 << 56 | address),  // a flag bit that is not put back
                    (0x0000 << 48 | 100, 0x80 << 56 | address),  // no flags at all
                    (0xD000 << 48 | 100, 0x90 << 56 | address),  // another discriminator
                    (0xD000 << 48 | 100, 0xC0 << 56 | address),  // bridged
                    (0xD000 << 48 | 100, 0x00 << 56 | address),  // native, mortal: heap storage
                ]
                for words in refused { #expect(_Stored.tag(words: words) == nil, "\(words)") }
            }
        #endif

        @Test func valuesSetThroughNamesAreStoredTheSameWay() throws {
            try TaskContext.run {
                let built = String(decoding: Array("not a small string at all".utf8), as: UTF8.self)
                let values: [(any Sendable, tagged: Bool)] = [
                    (7, true), (true, true), ("ada", true), ("not a small string at all", true), (built, false),
                    (7.5, false),
                ]
                for (value, tagged) in values {
                    try TaskContext.set(name, value)
                    #expect(isTagged() == tagged, "\(value)")
                    #expect(String(describing: TaskContext.get(name)!) == String(describing: value))
                }
                try TaskContext.set(name, 7)
                #expect(TaskContext.get(ContextKey<Int>(name)) == 7)
            }
        }

        @Test func taggedAndBoxedValuesReplaceEachOtherAndCopiesKeepTheirOwn() async throws {
            let counter = DeinitCounter()
            try await TaskContext.run {
                try TaskContext.set(ContextKey<Int>(name), 1)
                let before = TaskContext.current
                try TaskContext.set(ContextKey<Tracked>(name), Tracked("object", counter))
                #expect(isTagged() == false)
                try TaskContext.set(ContextKey<String>(name), "short")
                #expect(counter.count == 1, "the replaced object is released")
                #expect(isTagged() == true)
                let child = await Task(inheriting: .copy) { () -> String? in
                    try? TaskContext.set(ContextKey<Bool>(name), true)
                    return TaskContext.get(ContextKey<Bool>(name)).map(String.init)
                }.value
                #expect(child == "true")
                #expect(TaskContext.get(ContextKey<String>(name)) == "short")
                #expect(before[ContextKey<Int>(name)] == 1)
                try TaskContext.remove(ContextKey<String>(name))
                #expect(TaskContext.get(name) == nil)
            }
        }
    }
}
