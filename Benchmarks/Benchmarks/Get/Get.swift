import BenchmarkSupport

let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let probe = ContextKey<Payload>(Fixture.keyName(0))
    let absent = ContextKey<Payload>("absent")

    // The harness itself: ordo-one/benchmark's malloc counter sees one
    // allocation of its own per measured iteration; the report subtracts
    // this benchmark's count from every other.
    Benchmark(name("noop", "Harness")) { benchmark in
        for i in benchmark.scaledIterations { blackHole(i) }
    }

    // Floors: a @TaskLocal read with 0, 10, 30 and 100 other bindings above it.
    for depth in [0, 10, 30, 100] {
        Benchmark(name("tasklocal-read-int", "TaskLocal", depth)) { benchmark in
            Locals.$int.withValue(42) {
                withBindings(depth, otherLocals) {
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(Locals.int) }
                    benchmark.stopMeasurement()
                }
            }
        }
        Benchmark(name("tasklocal-read-class", "TaskLocal", depth)) { benchmark in
            Locals.$object.withValue(Payload(1)) {
                withBindings(depth, otherLocals) {
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(Locals.object) }
                    benchmark.stopMeasurement()
                }
            }
        }
    }

    for n in contextSizes {
        let context = Fixture.context(n)
        Benchmark(name("get-hit", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(TaskContext.get(probe)) }
                benchmark.stopMeasurement()
            }
        }
        Benchmark(name("get-miss", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(TaskContext.get(absent)) }
                benchmark.stopMeasurement()
            }
        }
        Benchmark(name("get-string", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(TaskContext.get("key-0")) }
                benchmark.stopMeasurement()
            }
        }
        let service = Fixture.serviceContext(n)
        Benchmark(name("get-hit", "ServiceContext", n)) { benchmark in
            func read<K: PayloadServiceKey>(_ key: K.Type) {
                ServiceContext.withValue(service) {
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(ServiceContext.current?[key]) }
                    benchmark.stopMeasurement()
                }
            }
            read(Fixture.serviceKey(0))
        }
        let tree = Fixture.tree(n)
        Benchmark(name("get-hit", "TreeDictionary", n)) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(tree[0]) }
        }
    }

    // A chained scope reads through its layers to the base context.
    let base = Fixture.context(8)
    for depth in [1, 8, 64] {
        Benchmark(name("get-chained", "ContextStore", depth)) { benchmark in
            func nest(_ level: Int) {
                if level == 0 {
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(TaskContext.get(probe)) }
                    benchmark.stopMeasurement()
                    return
                }
                TaskContext.run(inheriting: .chain) { nest(level - 1) }
            }
            TaskContext.run(with: base) { nest(depth) }
        }
    }
}
