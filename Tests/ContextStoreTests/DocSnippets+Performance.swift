import ContextStore
import Testing

// Mirrors the snippet of Performance.md.

extension ContextStoreTests {
    @Suite("Documentation: Performance.md")
    struct PerformanceSnippetTests {
        @Test func aScopesValuesAreReleasedWhenItEnds() {
            let before = TaskContext.statistics
            TaskContext.run {
                try? TaskContext.set(ContextKey<Int>("n"), 1)
            }
            #expect(TaskContext.statistics.liveValues == before.liveValues)
        }
    }
}
