import BenchmarkSupport
import CContextStore

/// The C core alone, with the store the Swift layer uses: what a lookup,
/// an insert and a fork cost before any Swift is involved.
let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let store = ctxs_store_create(nil)!
    var ids: [UInt64] = []
    for i in 0...65536 {
        var id: UInt64 = 0
        let name = Fixture.keyName(i)
        _ = name.utf8CString.withUnsafeBufferPointer { ctxs_intern(store, $0.baseAddress, $0.count - 1, &id) }
        ids.append(id)
    }
    let value = UnsafeMutableRawPointer(bitPattern: 0x1000)!

    for n in contextSizes {
        var map = ctxs_map_new(store)
        for i in 0..<n {
            var next: OpaquePointer?
            _ = ctxs_map_assoc(map, ids[i], value, &next)
            ctxs_map_release(map)
            map = next!
        }
        let frozen = map
        let fresh = ids[65536]
        Benchmark(name("core-find", "CContextStore", n)) { benchmark in
            var out: UnsafeMutableRawPointer?
            for _ in benchmark.scaledIterations { blackHole(ctxs_map_find(frozen, ids[0], &out)) }
        }
        Benchmark(name("core-assoc", "CContextStore", n)) { benchmark in
            for _ in benchmark.scaledIterations {
                var next: OpaquePointer?
                _ = ctxs_map_assoc(frozen, fresh, value, &next)
                ctxs_map_release(next)
            }
        }
        Benchmark(name("core-fork", "CContextStore", n)) { benchmark in
            for _ in benchmark.scaledIterations { ctxs_map_release(ctxs_map_fork(frozen)) }
        }
    }
}
