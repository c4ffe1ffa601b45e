import BenchmarkSupport
@_spi(Benchmarks) import ContextStore

let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let probe = ContextKey<Payload>(Fixture.keyName(0))
    let fresh = ContextKey<Payload>("fresh")
    let value = Payload(7)

    // A value that is neither a class instance nor one that can be tagged
    // (a String of more than 7 bytes made at run time; a literal of 16
    // bytes or more would be tagged) is stored in a box: one malloc per set, shown beside the
    // class-value figures above.
    let text = ContextKey<String>(Fixture.keyName(0) + ".text")
    let boxed = String(decoding: Array("request-4bf92f35".utf8), as: UTF8.self)
    Benchmark(name("set-replace-boxed", "ContextStore", 8)) { benchmark in
        TaskContext.run(with: Fixture.context(8)) {
            try! TaskContext.set(text, boxed)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { try! TaskContext.set(text, boxed) }
            benchmark.stopMeasurement()
        }
    }

    for n in contextSizes {
        let context = Fixture.context(n)

        // A new key into a scope holding n keys, then its removal, so the
        // scope stays at n keys: the time is for the pair, an upper bound
        // on the set alone. The scope's map is its own (nothing else holds
        // it), so both write in place.
        Benchmark(name("set-new", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                try! TaskContext.set(fresh, value)  // the first write copies the shared path
                try! TaskContext.remove(fresh)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    try! TaskContext.set(fresh, value)
                    try! TaskContext.remove(fresh)
                }
                benchmark.stopMeasurement()
            }
        }
        Benchmark(name("set-replace", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                try! TaskContext.set(probe, value)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { try! TaskContext.set(probe, value) }
                benchmark.stopMeasurement()
            }
        }
        // A removal, then the key's return (the pair, as for set-new).
        Benchmark(name("remove", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                try! TaskContext.set(probe, value)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    try! TaskContext.remove(probe)
                    try! TaskContext.set(probe, value)
                }
                benchmark.stopMeasurement()
            }
        }
        // The first write after a fork: the scope's map is shared (with the
        // fixture here, with a snapshot or a parent in practice), so the set
        // copies its path. Each op also resets the scope in O(1), which frees
        // the written path as a dropped copy would.
        Benchmark(name("set-fork", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                for _ in benchmark.scaledIterations {
                    try! TaskContext._replaceCurrent(with: context)
                    try! TaskContext.set(fresh, value)
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
