import BenchmarkSupport

let benchmarks: @Sendable () -> Void = {
    configureSuite()
    let object = Payload(1)

    Benchmark(name("withvalue-int", "TaskLocal")) { benchmark in
        for i in benchmark.scaledIterations { Locals.$int.withValue(i) { blackHole(i) } }
    }
    Benchmark(name("withvalue-class", "TaskLocal")) { benchmark in
        for i in benchmark.scaledIterations { Locals.$object.withValue(object) { blackHole(i) } }
    }
    Benchmark(name("withvalue-class-nonoptional", "TaskLocal")) { benchmark in
        for i in benchmark.scaledIterations { Locals.plainObject.withValue(object) { blackHole(i) } }
    }
    Benchmark(name("tasklocal-read-class", "TaskLocal")) { benchmark in
        Locals.$object.withValue(object) {
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(Locals.object) }
            benchmark.stopMeasurement()
        }
    }

    for n in contextSizes {
        let context = Fixture.context(n)
        Benchmark(name("current", "ContextStore", n)) { benchmark in
            TaskContext.run(with: context) {
                // The first read in a scope wraps its map (one allocation,
                // then kept as the scope's memo); the loop measures the rest.
                blackHole(TaskContext.current)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(TaskContext.current) }
                benchmark.stopMeasurement()
            }
        }
    }

    let context = Fixture.context(8)
    for (label, mode) in [("copy", Inheritance.copy), ("share", .share), ("chain", .chain)] {
        Benchmark(name("run-\(label)", "ContextStore", 8)) { benchmark in
            TaskContext.run(with: context) {
                for i in benchmark.scaledIterations { TaskContext.run(inheriting: mode) { blackHole(i) } }
            }
        }
    }

    // `make bench` runs this target on one CPU (see the Makefile): a task's
    // create + await is bimodal on two vCPUs, and which mode a benchmark
    // landed in varied from run to run.
    let tasks = Benchmark.Configuration(scalingFactor: .one)
    Benchmark(name("task", "Task", 8), configuration: tasks) { benchmark in
        await TaskContext.run(with: context) {
            for _ in benchmark.scaledIterations { await Task { blackHole(1) }.value }
        }
    }
    // The floor of any context a child task gets and its parent does not:
    // one task-local binding around `Task {}`, which copies it in.
    Benchmark(name("task-bind", "TaskLocal", 8), configuration: tasks) { benchmark in
        await TaskContext.run(with: context) {
            for _ in benchmark.scaledIterations {
                await Locals.plainObject.withValue(object) { Task { blackHole(1) } }.value
            }
        }
    }
    for (label, mode) in [("copy", Inheritance.copy), ("share", .share)] {
        Benchmark(name("task-\(label)", "ContextStore", 8), configuration: tasks) { benchmark in
            await TaskContext.run(with: context) {
                for _ in benchmark.scaledIterations { await Task(inheriting: mode) { blackHole(1) }.value }
            }
        }
    }
}
