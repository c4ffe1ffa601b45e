import ContextStore
import Foundation
import Testing

// The README's quickstart, line for line, with each `print` replaced by an
// expectation of the value the README says it prints. Keep the two in step.

private let requestID = ContextKey<String>("request_id")
private let taskData = ContextKey<Int>("task_data")

private func child(_ n: Int) async -> String {
    try? TaskContext.set(taskData, n)  // lands in this child's own copy
    return "\(n): request_id=\(TaskContext.get(requestID) ?? "-") task_data=\(TaskContext.get(taskData) ?? 0)"
}

extension ContextStoreTests {
    @Suite("README")
    struct ReadmeExampleTests {
        @Test func quickstart() async throws {
            try await TaskContext.run {
                try TaskContext.set(requestID, "7f0c2b4e")
                let first = Task(inheriting: .copy) { await child(1) }
                let second = Task(inheriting: .copy) { await child(2) }
                #expect(await first.value == "1: request_id=7f0c2b4e task_data=1")
                #expect(await second.value == "2: request_id=7f0c2b4e task_data=2")
                #expect(TaskContext.get(requestID) ?? "-" == "7f0c2b4e")
                #expect(TaskContext.get(taskData) == nil)
            }
        }

        /// Keeps `quickstart()` in step with README.md: every line of the
        /// README's quickstart is in this file (declarations may carry a
        /// `private` here), and every value a `print` there is said to print
        /// is expected here.
        @Test func quickstartMirrorsTheReadme() throws {
            let here = URL(fileURLWithPath: #filePath)
            let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
            let test = try String(contentsOf: here, encoding: .utf8)
            let testLines = test.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }

            let afterHeading = try #require(readme.range(of: "## Quickstart")).upperBound
            let fence = try #require(readme.range(of: "```swift\n", range: afterHeading..<readme.endIndex))
            let end = try #require(readme.range(of: "```", range: fence.upperBound..<readme.endIndex))
            let quickstart = readme[fence.upperBound..<end.lowerBound]
                .split(separator: "\n")
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("import ") }
            #expect(quickstart.count > 10)

            for line in quickstart {
                if line.hasPrefix("print(") {
                    let printed = try #require(line.range(of: "// ")).upperBound
                    let value = line[printed...].trimmingCharacters(in: .whitespaces)
                    #expect(value == "true" || test.contains("\"\(value)\""), "README prints \(value)")
                } else {
                    #expect(testLines.contains { $0.hasSuffix(line) }, "README line not mirrored: \(line)")
                }
            }
        }
    }
}
