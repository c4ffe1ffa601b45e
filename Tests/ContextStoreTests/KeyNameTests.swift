import CContextStore
import Testing

@testable import ContextStore

// Hostile key names. A name is its bytes: the empty name, names with NUL
// bytes and 1 MiB names are ordinary keys. Names that are not valid UTF-8
// can only come from C (a Swift `String` is always valid UTF-8); they are
// stored and found by their exact bytes, and where the Swift API has to show
// one as a `String` (`names`, `entries`, `description`) it decodes it
// lossily, each invalid sequence becoming U+FFFD.

/// Interns `bytes` through the C API, as a C caller of the store would.
private func internFromC(_ bytes: [UInt8]) throws -> UInt64 {
    var id: UInt64 = 0
    let status = bytes.withUnsafeBytes { ctxs_intern(_Store.raw, $0.baseAddress, $0.count, &id) }
    try #require(status == CTXS_OK.rawValue)
    return id
}

/// The UTF-8 bytes of `string`, NULs included.
private func utf8(_ string: String) -> [UInt8] {
    Array(string.utf8)
}

extension ContextStoreTests {
    @Suite("Hostile key names")
    struct KeyNameTests {
        @Test func theEmptyNameIsAKey() throws {
            let empty = ContextKey<Int>("")
            try TaskContext.run {
                #expect(TaskContext.get(empty) == nil)
                try TaskContext.set(empty, 1)
                try TaskContext.set("", 2)  // the same entry by its name
                #expect(TaskContext.get(empty) == 2)
                #expect(TaskContext.get("") as? Int == 2)
                #expect(TaskContext.current.names == [""])
                #expect(TaskContext.current.description == "TaskContext([\"\": 2])")
                try TaskContext.remove(empty)
                #expect(TaskContext.current.isEmpty)
            }
        }

        /// NUL is a byte like any other: names that differ only after or by a
        /// NUL are different keys, and they come back exactly.
        @Test func namesWithNULBytesAreDistinctKeys() throws {
            let names = ["nul", "nul\0", "nul\0a", "nul\0b", "\0", "\0\0", "\0nul"]
            try TaskContext.run {
                for (index, name) in names.enumerated() { try TaskContext.set(ContextKey<Int>(name), index) }
                for (index, name) in names.enumerated() {
                    #expect(TaskContext.get(ContextKey<Int>(name)) == index, "\(name.debugDescription)")
                    #expect(TaskContext.get(name) as? Int == index, "\(name.debugDescription)")
                }
                let current = TaskContext.current
                #expect(current.count == names.count)
                #expect(current.names == names.sorted())
                #expect(current.names.map(utf8) == names.sorted().map(utf8), "the bytes survive, NULs included")
                #expect(current.description.contains("\"nul\\0a\": 2"), "\(current.description)")
            }
        }

        @Test func oneMebibyteNames() throws {
            let size = 1 << 20
            let long = String(repeating: "k", count: size)
            let longToo = String(repeating: "k", count: size - 1) + "j"  // differs in the last byte
            let wide = String(repeating: "é", count: size / 2)  // 1 MiB of two-byte characters
            try TaskContext.run {
                try TaskContext.set(ContextKey<String>(long), "long")
                try TaskContext.set(longToo, "longToo")
                try TaskContext.set(ContextKey<String>(wide), "wide")
                #expect(TaskContext.get(ContextKey<String>(long)) == "long")
                #expect(TaskContext.get(longToo) as? String == "longToo")
                #expect(TaskContext.get(ContextKey<String>(wide)) == "wide")
                #expect(TaskContext.get(String(repeating: "k", count: size - 1)) == nil, "a prefix is another name")
                let names = TaskContext.current.names
                #expect(names.map(\.utf8.count) == [size, size, size])
                #expect(Set(names) == [long, longToo, wide])
            }
        }

        /// Bytes that are not UTF-8, interned from C. They are keys like any
        /// other (found by their exact bytes), and the Swift views decode
        /// them lossily: two different invalid names may read the same, and
        /// neither is the key whose name is the UTF-8 of U+FFFD.
        @Test func namesThatAreNotUTF8() throws {
            let invalid: [(bytes: [UInt8], shown: String)] = [
                ([0xFF], "\u{FFFD}"),  // never valid in UTF-8
                ([0xFE], "\u{FFFD}"),  // another invalid byte, shown the same
                ([0x61, 0xC3], "a\u{FFFD}"),  // a truncated two-byte sequence
                ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // an encoded surrogate
                ([0xC0, 0xAF, 0x62], "\u{FFFD}\u{FFFD}b"),  // an overlong "/"
            ]
            let ids = try invalid.map { try internFromC($0.bytes) }
            #expect(Set(ids).count == invalid.count, "different bytes, different keys")

            var context = TaskContext()
            for (index, id) in ids.enumerated() {
                context = TaskContext(_map: try context._map.setting(id, _encode(index)))
            }
            #expect(context.count == invalid.count)
            for (index, id) in ids.enumerated() {
                #expect(context._map.stored(for: id).flatMap { _decode($0, as: Int.self) } == index)
            }
            #expect(context.names == invalid.map(\.shown).sorted())
            let entries = context.entries
            #expect(entries.map(\.name) == invalid.map(\.shown).sorted())
            #expect(entries.compactMap { $0.value as? Int }.sorted() == Array(0..<invalid.count))
            #expect(context.description.contains("\"a\u{FFFD}\": 2"), "\(context.description)")

            // The replacement character's own UTF-8 is a different name.
            #expect(context["\u{FFFD}"] == nil)
            #expect(context[ContextKey<Int>("a\u{FFFD}")] == nil)

            // The same through a scope: a write from C lands in the
            // scope, and the Swift reads and views behave as above.
            try TaskContext.run(with: context) {
                #expect(TaskContext.current.count == invalid.count)
                #expect(TaskContext.current.names == invalid.map(\.shown).sorted())
                #expect(TaskContext.get("\u{FFFD}") == nil)
                let slot = try TaskContext._writeSlot("from C")
                try TaskContext._set(slot, ids[0], _encode(100))
                #expect(TaskContext._withStored(ids[0]) { _decode($0, as: Int.self) } == 100)
                try TaskContext.remove(ContextKey<Int>("\u{FFFD}"))  // not the same key: nothing removed
                #expect(TaskContext.current.count == invalid.count)
            }
        }
    }
}
