import Foundation
import Testing

// Keeps the Swift snippets of the DocC catalogs in step with code that runs.
//
// Every line of every ```swift block in `Sources/*/*.docc` must appear in a
// mirror file, a test source under `Tests/` whose name starts with
// `DocSnippets`, where a test runs it:
//
// - a line whose trailing comment is a value (`expr  // "ada"`, `// nil: …`,
//   `// 2`, `// ["a"]`, `// true`) must appear as `#expect(expr == value)`,
//   or as `#expect(expr)` for `true`;
// - any other line must end some mirror line (comments aside), so that a
//   mirror may add `private` to a declaration or indent the code;
// - comment lines, lone brackets and `import` lines are not checked.
//
// A block that starts with `// Package.swift` is a manifest fragment, which
// no test can compile, and is skipped.

extension ContextStoreTests {
    @Suite("Documentation snippets")
    struct DocumentationSnippetTests {
        private static let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        @Test func everySnippetLineIsRunByATest() throws {
            let mirrors = try Self.files(under: "Tests") { $0.lastPathComponent.hasPrefix("DocSnippets") }
            let mirrorText = try mirrors.map { try String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
            let mirrorCode = mirrorText.split(separator: "\n").map { Self.split(String($0)).code }
            #expect(mirrors.count >= 4, "mirror files found: \(mirrors.map(\.lastPathComponent))")

            let articles = try Self.files(under: "Sources") {
                $0.pathExtension == "md" && $0.path.contains(".docc/")
            }
            var checked = 0
            for article in articles {
                let text = try String(contentsOf: article, encoding: .utf8)
                for line in Self.swiftSnippetLines(text) {
                    let (code, comment) = Self.split(line)
                    if code.isEmpty || code.hasPrefix("import ") || code.allSatisfy({ "()[]{},;".contains($0) }) {
                        continue
                    }
                    checked += 1
                    let place = "\(article.lastPathComponent): \(line)"
                    if let value = comment.flatMap(Self.value(in:)) {
                        let expectation = value == "true" ? "#expect(\(code))" : "#expect(\(code) == \(value))"
                        let mirrored = mirrorText.contains(expectation)
                        #expect(mirrored, "no \(expectation) for \(place)")
                    } else {
                        let mirrored = mirrorCode.contains { $0.hasSuffix(code) }
                        #expect(mirrored, "snippet line not mirrored: \(place)")
                    }
                }
            }
            #expect(checked > 80, "snippet lines checked: \(checked)")
        }

        /// The parser itself, on a sample.
        @Test func theSnippetParserFindsSwiftBlocksOnly() {
            let sample = """
                Text.

                ```swift
                let a = 1  // 1
                    f(a)  // a call
                }
                ```

                ```python
                print(1)
                ```

                ```swift
                // Package.swift
                dependencies: [],
                ```
                """
            let lines = Self.swiftSnippetLines(sample)
            #expect(lines == ["let a = 1  // 1", "f(a)  // a call", "}"])
            #expect(Self.split("f(a)  // a call").code == "f(a)")
            #expect(Self.split("f(a)  // a call").comment == "a call")
            #expect(Self.split("let url = \"http://x\"").comment == nil)
            #expect(Self.value(in: "nil: the scope ended") == "nil")
            #expect(Self.value(in: "\"ada\"") == "\"ada\"")
            #expect(Self.value(in: "[\"ada\", nil]") == "[\"ada\", nil]")
            #expect(Self.value(in: "2") == "2")
            #expect(Self.value(in: "a string key") == nil)
            #expect(Self.value(in: "until the parent has written") == nil)
        }

        /// Files under `folder` (relative to the package root) that `keep` accepts.
        private static func files(under folder: String, _ keep: (URL) -> Bool) throws -> [URL] {
            let base = root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else {
                return []
            }
            return walker.compactMap { $0 as? URL }.filter(keep).sorted { $0.path < $1.path }
        }

        /// The trimmed lines of the ```swift blocks of a Markdown text.
        static func swiftSnippetLines(_ markdown: String) -> [String] {
            var lines: [String] = []
            var block: [String]?
            for raw in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if block == nil {
                    if line == "```swift" { block = [] }
                } else if line.hasPrefix("```") {
                    if block?.first != "// Package.swift" { lines += block ?? [] }
                    block = nil
                } else if !line.isEmpty {
                    block?.append(line)
                }
            }
            return lines
        }

        /// A line's code and its trailing `// comment`, if any. A comment
        /// starts at `//` after whitespace, so `"http://…"` is code.
        static func split(_ line: String) -> (code: String, comment: String?) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("//") {
                return ("", String(trimmed.dropFirst(2)).trimmingCharacters(in: .whitespaces))
            }
            guard let marker = trimmed.range(of: #"\s+//(\s|$)"#, options: .regularExpression) else {
                return (trimmed, nil)
            }
            let comment = trimmed[marker.upperBound...].trimmingCharacters(in: .whitespaces)
            return (String(trimmed[..<marker.lowerBound]), comment)
        }

        /// The Swift literal a comment states as the line's value, or nil
        /// for a comment that explains instead.
        static func value(in comment: String) -> String? {
            let pattern = #"^("(?:[^"\\]|\\.)*"|-?[0-9][0-9_.]*|nil|true|false|\[.*\])(?=$|[:,(])"#
            guard let match = comment.range(of: pattern, options: .regularExpression) else { return nil }
            return String(comment[match])
        }
    }
}
