@_spi(Benchmarks) import ContextStore
import BenchmarkSupport

let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let probe = ContextKey<Payload>(Fixture.keyName(0))
    let fresh = ContextKey<Payload>("fresh")
    let value = Payload(7)

    for n in contextSizes {
        let context = Fixture.context(n)

        // A new key into a scope holding n keys. Each write is undone by an
        // O(1) reset, which frees the written path as a dropped copy would.
        Benchmark(name("set-new", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                for _ in benchmark.scaledIterations {
                    try! TaskContext.set(fresh, value)
                    try! TaskContext._replaceCurrent(with: context)
                }
            }
        }
        Benchmark(name("set-replace", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                for _ in benchmark.scaledIterations { try! TaskContext.set(probe, value) }
            }
        }
        Benchmark(name("remove", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                for _ in benchmark.scaledIterations {
                    try! TaskContext.remove(probe)
                    try! TaskContext._replaceCurrent(with: context)
                }
            }
        }
        Benchmark(name("set-persistent", "ContextStore", n)) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try! context.setting(fresh, value)) }
        }

        let tree = Fixture.tree(n)
        Benchmark(name("set-new", "TreeDictionary", n)) { benchmark in
            for _ in benchmark.scaledIterations {
                var copy = tree
                copy[-1] = value
                blackHole(copy)
            }
        }
        let dictionary = Fixture.dictionary(n)
        Benchmark(name("set-new", "Dictionary", n)) { benchmark in
            for _ in benchmark.scaledIterations {
                var copy = dictionary
                copy[-1] = value
                blackHole(copy)
            }
        }
        let service = Fixture.serviceContext(n)
        Benchmark(name("set-new", "ServiceContext", n)) { benchmark in
            func write<K: PayloadServiceKey>(_ key: K.Type) {
                ServiceContext.withValue(service) {
                    for _ in benchmark.scaledIterations {
                        var copy = ServiceContext.current ?? .topLevel
                        copy[key] = value
                        ServiceContext.withValue(copy) { blackHole(copy.count) }
                    }
                }
            }
            write(Fixture.serviceKey(1 << 17))
        }
    }
}
