// Not a benchmark: runs one workload in a loop, for a profiler to sample
// (see "Where a request's time goes" in the Performance article).
//
//     swift build -c release --product Profile
//     perf record -e cpu-clock -F 20000 -g taskset -c 1 .build/release/Profile request 400000
//
// Workloads: `request` and `request-struct` (Workloads/Request.swift, ours
// and a struct in one @TaskLocal), `logging` and `logging-swiftlog` (the
// logging request, ours and swift-log's task-local logger), `task-copy` and `task-floor` (the
// `Task(inheriting: .copy)` target's two sides). Prints the time per
// iteration, which is only a guide: the targets are measured by Ratios.
import ContextStore
import Workloads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum Floor {
    @TaskLocal static var object: Payload?
}

func seconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

let usage = "usage: Profile request|request-struct|logging|logging-swiftlog|task-copy|task-floor ITERATIONS"
guard CommandLine.arguments.count == 3, let iterations = Int(CommandLine.arguments[2]), iterations > 0 else {
    fatalError(usage)
}
let workload = CommandLine.arguments[1]
Request.bootstrapLogging()
let elapsed = await Task.detached { () -> Double in
    let start = seconds()
    switch workload {
    case "request":
        for _ in 0..<iterations { await Request.contextStore() }
    case "request-struct":
        for _ in 0..<iterations { await Request.structTaskLocal() }
    case "logging":
        for _ in 0..<iterations { await Request.contextStoreLogging() }
    case "logging-swiftlog":
        for _ in 0..<iterations { await Request.swiftLogTaskLocal() }
    case "task-copy":
        await TaskContext.run(with: Fixture.context(8)) {
            for _ in 0..<iterations { await Task(inheriting: .copy) { sink(1) }.value }
        }
    case "task-floor":
        await TaskContext.run(with: Fixture.context(8)) {
            let object = Payload(1)
            for _ in 0..<iterations { await Floor.$object.withValue(object) { Task { sink(1) } }.value }
        }
    default:
        fatalError(usage)
    }
    return seconds() - start
}.value
print(workload, Int((elapsed / Double(iterations) * 1e9).rounded()), "ns per iteration")
