import Foundation
import Testing

// The section "With OpenTelemetry (swift-otel)" of the ContextStore article
// PropagatingContext.md shows this example's code. The root package's
// snippet test runs only ```swift blocks, mirrored in its own tests, and the
// root does not depend on swift-otel; so that section's code blocks are
// plain ``` blocks, checked here instead: each code line must end a line of
// this example's sources (comments aside), as the root test asks of its
// mirrors.

@Suite("The article's swift-otel section")
struct ArticleSnippetTests {
    static let exampleRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let article = exampleRoot.appendingPathComponent(
        "../../Sources/ContextStore/ContextStore.docc/PropagatingContext.md"
    ).standardizedFileURL
    static let heading = "## With OpenTelemetry (swift-otel)"

    @Test func everyCodeLineOfTheSectionIsTheExamplesCode() throws {
        let text = try String(contentsOf: Self.article, encoding: .utf8)
        let section = try #require(Self.section(Self.heading, of: text), "no \(Self.heading) in \(Self.article.path)")
        let sourceLines = try Self.sourceFiles().flatMap { url in
            try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { Self.code(String($0)) }
        }
        var checked = 0
        for line in Self.plainBlockLines(section) {
            let code = Self.code(line)
            if code.isEmpty || code.allSatisfy({ "()[]{},;".contains($0) }) { continue }
            checked += 1
            #expect(sourceLines.contains { $0.hasSuffix(code) }, "not in the example's sources: \(line)")
        }
        #expect(checked >= 8, "code lines checked: \(checked)")
    }

    /// The lines from `heading` to the next `## ` heading.
    static func section(_ heading: String, of markdown: String) -> String? {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == heading }) else { return nil }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.endIndex
        return lines[start..<end].joined(separator: "\n")
    }

    /// The trimmed lines of the plain ``` blocks (no info string) of a Markdown text.
    static func plainBlockLines(_ markdown: String) -> [String] {
        var lines: [String] = []
        var block: [String]?
        var plain = false
        for raw in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if block == nil {
                if line.hasPrefix("```") {
                    block = []
                    plain = line == "```"
                }
            } else if line.hasPrefix("```") {
                if plain { lines += block ?? [] }
                block = nil
            } else if !line.isEmpty {
                block?.append(line)
            }
        }
        return lines
    }

    /// A line without its trailing `// comment` (all of it, for a comment
    /// line), trimmed. A comment starts at `//` after whitespace, so
    /// `"http://…"` is code.
    static func code(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("//") { return "" }
        guard let marker = trimmed.range(of: #"\s+//(\s|$)"#, options: .regularExpression) else { return trimmed }
        return String(trimmed[..<marker.lowerBound])
    }

    static func sourceFiles() throws -> [URL] {
        let sources = exampleRoot.appendingPathComponent("Sources")
        let walker = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }
}
