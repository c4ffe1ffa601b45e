import ContextStore
import ContextStoreTestSupport
import Testing

// Extreme sizes: a million keys in one context, and chains of 10,000 scopes
// nested one inside the other, synchronously and asynchronously.

/// How deep the nested-chain tests go.
private let chainDepth = 10_000

/// The thread stack the synchronous nesting runs on. Each synchronous
/// `run(inheriting:)` level takes about 0.6 KiB of stack in a debug build
/// (less optimised), so 10,000 levels need about 6 MiB: more than a
/// secondary thread's default stack on some platforms. 64 MiB leaves room.
private let deepStackSize = 64 << 20

private let levelTop = ContextKey<Int>("scale.chain.top")
private let levelKeys = (0...chainDepth).map { ContextKey<Int>("scale.chain.level.\($0)") }

/// What the nesting tests found wrong (empty when nothing was).
private struct ChainLog: Sendable {
    var problems: [String] = []
    var deepest = -1

    mutating func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok && problems.count < 20 { problems.append(what()) }
    }
}

/// The checks made at the bottom of a chain `depth` levels deep: every
/// level's own key is visible through the chain, the nearest shadow of the
/// shared key wins, and the merged context holds exactly those keys.
private func checkBottom(_ depth: Int, _ log: inout ChainLog) {
    log.deepest = depth
    log.check(TaskContext.get(levelTop) == depth, "bottom: top is \(TaskContext.get(levelTop) ?? -1)")
    var wrong = 0
    for level in 0...depth where TaskContext.get(levelKeys[level]) != level { wrong += 1 }
    log.check(wrong == 0, "bottom: \(wrong) levels read wrong")
    let current = TaskContext.current
    log.check(current.count == depth + 2, "bottom: current has \(current.count) keys")
    log.check(current[levelKeys[0]] == 0 && current[levelKeys[depth]] == depth, "bottom: current's values")
}

/// Checks made at `level` after the level below returned: the level sees
/// its own writes and none of the level below's.
private func checkAfterChild(_ level: Int, _ log: inout ChainLog) {
    log.check(TaskContext.get(levelTop) == level, "level \(level): top is \(TaskContext.get(levelTop) ?? -1)")
    log.check(TaskContext.get(levelKeys[level + 1]) == nil, "level \(level) sees level \(level + 1)'s key")
    log.check(TaskContext.get(levelKeys[level]) == level, "level \(level): own key")
}

/// Writes this level's keys: its own key, and a shadow of the shared one.
private func writeLevel(_ level: Int, _ log: inout ChainLog) {
    do {
        try TaskContext.set(levelKeys[level], level)
        try TaskContext.set(levelTop, level)
    } catch {
        log.check(false, "level \(level): set threw \(error)")
    }
}

private func nestSync(_ level: Int, _ depth: Int, _ log: inout ChainLog) {
    writeLevel(level, &log)
    if level == depth {
        checkBottom(depth, &log)
        return
    }
    TaskContext.run(inheriting: .chain) { nestSync(level + 1, depth, &log) }
    checkAfterChild(level, &log)
}

private func nestAsync(_ level: Int, _ depth: Int, _ log: inout ChainLog) async {
    writeLevel(level, &log)
    if level == depth {
        checkBottom(depth, &log)
        return
    }
    if level % 1_000 == 0 { await Task.yield() }
    await TaskContext.run(inheriting: .chain) { await nestAsync(level + 1, depth, &log) }
    checkAfterChild(level, &log)
}

extension ContextStoreTests {
    @Suite("Extreme sizes", .exclusiveGlobalStore)
    struct ScaleTests {
        @Test func aMillionKeysInOneContext() throws {
            let count = 1_000_000
            let keys = (0..<count).map { ContextKey<Int>("scale.million.\($0)") }
            _ = TaskContext().isEmpty
            let start = LiveFigures()
            try TaskContext.run {
                for (index, key) in keys.enumerated() { try TaskContext.set(key, index) }
                #expect(TaskContext.current.count == count)
                var wrong = 0
                for (index, key) in keys.enumerated() where TaskContext.get(key) != index { wrong += 1 }
                #expect(wrong == 0, "every key reads back its own value")
                #expect(TaskContext.get("scale.million.999999") as? Int == 999_999)

                let snapshot = TaskContext.current
                for key in keys { try TaskContext.remove(key) }
                #expect(TaskContext.current.isEmpty)
                #expect(TaskContext.statistics.liveValues == start.values + count, "the snapshot still holds them all")
                #expect(snapshot.count == count)
                #expect(snapshot[keys[123_456]] == 123_456)
            }
            #expect(LiveFigures() == start, "the scope and the snapshot are gone, and so is everything they held")
        }

        /// 10,000 chained scopes nested synchronously, on a thread with a
        /// stack large enough for them (see `deepStackSize`).
        @Test func tenThousandNestedChainedScopesSync() async {
            _ = (levelKeys.count, levelTop)  // interned before the figures are taken
            _ = await onPlainThread {}  // interns the helper's own key name first
            let start = LiveFigures()
            let log = await onPlainThread(stackSize: deepStackSize) { () -> ChainLog in
                var log = ChainLog()
                TaskContext.run { nestSync(0, chainDepth, &log) }
                return log
            }
            #expect(log.deepest == chainDepth)
            #expect(log.problems == [])
            #expect(LiveFigures() == start)
        }

        /// The same, asynchronously, on the test's own task: an async
        /// function's frames live in the task, not on the thread's stack.
        @Test func tenThousandNestedChainedScopesAsync() async {
            _ = (levelKeys.count, levelTop)  // interned before the figures are taken
            let start = LiveFigures()
            var log = ChainLog()
            await TaskContext.run { await nestAsync(0, chainDepth, &log) }
            #expect(log.deepest == chainDepth)
            #expect(log.problems == [])
            #expect(LiveFigures() == start)
        }
    }
}
