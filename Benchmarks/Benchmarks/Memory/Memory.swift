import BenchmarkSupport
import CHeapBytes

/// Bytes, not time: what one persistent set allocates and keeps, and what
/// a context holds per key, for ContextStore and TreeDictionary. Heap bytes
/// come from glibc's `mallinfo2` (Swift objects, TreeDictionary nodes) plus
/// the store's own arena accounting (trie nodes, leaves, maps).
let bytes = BenchmarkMetric.custom("bytes", polarity: .prefersSmaller, useScalingFactor: false)
// Safe: a constant, made once and only read after.
nonisolated(unsafe) let memory = Benchmark.Configuration(
    metrics: [bytes], scalingFactor: .one, maxDuration: .seconds(1), maxIterations: 5)

func heapBytes() -> Int { Int(heap_bytes_in_use()) + TaskContext.statistics.bytesInUse }

let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let fresh = ContextKey<Payload>("fresh")
    let value = Payload(7)
    for n in contextSizes {
        let context = Fixture.context(n)
        Benchmark(name("bytes-per-set", "ContextStore", n), configuration: memory) { benchmark in
            let before = heapBytes()
            let next = try! context.setting(fresh, value)
            // Read while `next` is alive: after its last use the optimiser may free it.
            withExtendedLifetime(next) { benchmark.measurement(bytes, heapBytes() - before) }
        }
        let tree = Fixture.tree(n)
        Benchmark(name("bytes-per-set", "TreeDictionary", n), configuration: memory) { benchmark in
            let before = heapBytes()
            var next = tree
            next[-1] = value
            withExtendedLifetime(next) { benchmark.measurement(bytes, heapBytes() - before) }
        }
        let keys = Fixture.keys(n)
        let payloads = (0..<n).map(Payload.init)
        Benchmark(name("bytes-per-key", "ContextStore", n), configuration: memory) { benchmark in
            let before = heapBytes()
            var built = TaskContext()
            for i in 0..<n { built = try! built.setting(keys[i], payloads[i]) }
            withExtendedLifetime(built) { benchmark.measurement(bytes, (heapBytes() - before) / n) }
        }
        Benchmark(name("bytes-per-key", "TreeDictionary", n), configuration: memory) { benchmark in
            let before = heapBytes()
            var built = TreeDictionary<Int, Payload>()
            for i in 0..<n { built[i] = payloads[i] }
            withExtendedLifetime(built) { benchmark.measurement(bytes, (heapBytes() - before) / n) }
        }
    }
}
