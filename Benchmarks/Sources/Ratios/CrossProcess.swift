@_spi(Benchmarks) import ContextStore
import Workloads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The first write after a fork at `n` keys against CPython's, one block
/// of each per round, the Python block in a subprocess. Returns nil when
/// no Python is configured.
func firstWriteAgainstPython(n: Int, rounds: Int) async -> Outcome? {
    guard let python = getenv("BENCH_PYTHON").map({ String(cString: $0) }),
        let script = getenv("BENCH_REFERENCE").map({ String(cString: $0) })
    else { return nil }
    let context = Fixture.context(n)
    let fresh = ContextKey<Payload>("fresh")
    let value = Payload(7)
    let ours = Side { ops in
        TaskContext.run(with: context) {
            for _ in 0..<ops {
                try! TaskContext._replaceCurrent(with: context)
                try! TaskContext.set(fresh, value)
            }
        }
    }
    let ops = 200_000
    _ = await seconds(ours, ops)  // warm-up
    return await interleave(
        rounds: rounds, ours: { await seconds(ours, ops) * 1e9 / Double(ops) },
        baseline: { pythonFirstWrite(python, script, n) })
}

/// CPython's ns per first write after a fork at `n` keys (reference.py
/// --first-write), or nil if the subprocess fails.
func pythonFirstWrite(_ python: String, _ script: String, _ n: Int) -> Double? {
    guard let pipe = popen("'\(python)' '\(script)' --first-write \(n)", "r") else { return nil }
    var output = ""
    var buffer = [CChar](repeating: 0, count: 256)
    while fgets(&buffer, Int32(buffer.count), pipe) != nil {
        output += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    guard pclose(pipe) == 0 else { return nil }
    return Double(output.trimmingCharacters())
}

extension String {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

/// Reads of one shared scope from two tasks at once, against two tasks
/// reading scopes of their own: ns per read, per round. Reported, not a
/// target: on two vCPUs two threads get about one core, so this shows
/// contention on the scope's lock and cache line, not scaling.
func contention(rounds: Int) async -> Outcome {
    let context = Fixture.context(8)
    let probe = ContextKey<Payload>(Fixture.keyName(0))
    let reads = 200_000
    @Sendable func readLoop() {
        for _ in 0..<reads { sink(TaskContext.get(probe)) }
    }
    func pair(shared: Bool) async -> Double {
        await TaskContext.run(with: context) {
            let start = now()
            async let a: Void = Task(inheriting: shared ? .share : .copy) { readLoop() }.value
            async let b: Void = Task(inheriting: shared ? .share : .copy) { readLoop() }.value
            _ = await (a, b)
            return (now() - start) * 1e9 / Double(reads)
        }
    }
    _ = await pair(shared: true)
    _ = await pair(shared: false)
    return await interleave(
        rounds: rounds, ours: { await pair(shared: true) }, baseline: { await pair(shared: false) })!
}
