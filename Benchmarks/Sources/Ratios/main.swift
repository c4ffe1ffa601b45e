// The performance targets, each measured as a ratio whose two sides run
// interleaved: round by round, one block of ours and one of the baseline,
// in alternating order. Drift (these VMs move by 2x from one hour to the
// next) then moves both sides of a round alike, and the spread of the
// per-round ratios shows how steady the figure is. `make bench` runs this
// on one CPU and writes its output to Results/raw/ratios.tsv, which
// report.py turns into the targets table.
//
// Usage: Ratios [--rounds N] [--block SECONDS] [--filter TEXT] [--contention]
// Output (TSV): id, what, bound, limit, then the per-round ratio's median,
// 10th and 90th percentiles, min and max, then the median ns per operation
// of each side.
//
// Targets against CPython (the first write after a fork) time Python in a
// subprocess per round (BENCH_PYTHON, Python/reference.py): the rounds
// alternate between the two processes.
import ContextStore
import Logging
import Workloads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Options {
    var rounds = 31
    var block = 0.004
    var filter: String?
    var contention = false

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            switch argument {
            case "--rounds": rounds = Int(rest.popFirst() ?? "") ?? rounds
            case "--block": block = Double(rest.popFirst() ?? "") ?? block
            case "--filter": filter = rest.popFirst()
            case "--contention": contention = true
            default:
                writeLine("usage: Ratios [--rounds N] [--block SECONDS] [--filter TEXT] [--contention]", to: 2)
                exit(2)
            }
        }
    }
}

func emit(_ id: String, _ what: String, _ bound: Target.Bound?, _ limit: Double?, _ outcome: Outcome) {
    let fields: [String] =
        [
            id, what,
            bound.map { $0 == .atMost ? "at-most" : $0 == .atLeast ? "at-least" : "report" } ?? "report",
            limit.map { String($0) } ?? "-",
        ]
        + [0.5, 0.1, 0.9, 0, 1].map { String(format3(quantile(outcome.ratios, $0))) }
        + [String(format3(quantile(outcome.ours, 0.5))), String(format3(quantile(outcome.baseline, 0.5)))]
    writeLine(fields.joined(separator: "\t"))
}

/// Writes `line` and a newline to a file descriptor at once (stdout by
/// default), so a run cut short keeps every line it finished.
func writeLine(_ line: String, to descriptor: Int32 = 1) {
    var bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { return }
        offset += written
    }
}

func format3(_ x: Double) -> String {
    guard x.isFinite else { return "nan" }
    return String(Double(Int((x * 1000).rounded())) / 1000)
}

func run(_ options: Options) async {
    Request.bootstrapLogging()
    writeLine("# rounds\t\(options.rounds)\tblock\t\(options.block)")
    if options.contention {
        let outcome = await contention(rounds: options.rounds)
        emit(
            "contention", "reads of one shared scope from two threads ÷ two threads on scopes of their own", nil,
            nil, outcome)
        return
    }
    for target in targets(matching: options.filter) {
        let outcome = await measure(target, rounds: options.rounds, block: options.block)
        emit(target.id, target.what, target.bound, target.bound == .report ? nil : target.limit, outcome)
    }
    for (n, limit) in [(1, 1.0), (8, 1.0), (65536, 2.0)] {
        let id = "first-write-python-\(n)"
        guard options.filter.map({ id.contains($0) }) ?? true else { continue }
        let what = "the first write after a fork, n = \(n.formatted): ÷ CPython `ContextVar.set` in a fresh copy"
        if let outcome = await firstWriteAgainstPython(n: n, rounds: max(5, options.rounds / 4)) {
            emit(id, what, .atMost, limit, outcome)
        } else {
            writeLine("Ratios: \(id) not measured (set BENCH_PYTHON and BENCH_REFERENCE)", to: 2)
        }
    }
}

let options = Options(CommandLine.arguments)
// Off the main actor: top-level code runs on it, and a task it creates
// inherits it (create + await then costs 15-20 us instead of ~1-3 us).
let done = Task.detached { await run(options) }
_ = await done.value
