import ContextStore
import Testing

// Mirrors the snippet of the catalog's landing page, ContextStore.md.

private func logLine(_ message: String) -> String {
    "[\(TaskContext.get(.requestID) ?? "-")] \(message)"
}

extension ContextStoreTests {
    @Suite("Documentation: ContextStore.md")
    struct OverviewSnippetTests {
        @Test func overview() throws {
            try TaskContext.run {
                try TaskContext.set(.requestID, "7f0c2b4e")
                #expect(logLine("accepted") == "[7f0c2b4e] accepted")
            }
            #expect(logLine("idle") == "[-] idle")
        }
    }
}
