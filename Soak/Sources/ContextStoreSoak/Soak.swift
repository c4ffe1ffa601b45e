import ContextStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Samples RSS and the store's statistics every few seconds until stopped,
/// and prints a progress line now and then.
final class Sampler: Sendable {
    private let samples = Mutex<[MemorySample]>([])
    private let stopped = Atomic<Bool>(false)

    func sample(at seconds: Double) -> MemorySample {
        let sample = MemorySample(seconds: seconds, rss: residentBytes() ?? 0, statistics: TaskContext.statistics)
        samples.withLock { $0.append(sample) }
        return sample
    }

    func run(start: ContinuousClock.Instant, every interval: Double, ledger: Ledger) async {
        let clock = ContinuousClock()
        var lastPrint = -Double.infinity
        while !stopped.load(ordering: .relaxed) {
            let now = (clock.now - start).seconds
            let sample = sample(at: now)
            if now - lastPrint >= 15 {
                lastPrint = now
                say(
                    "  \(seconds(now)): \(ledger.scopesDone.load(ordering: .relaxed)) scopes done, "
                        + "RSS \(mebibytes(sample.rss)), store \(mebibytes(sample.statistics.bytesInUse)) in use, "
                        + "live payloads \(Payload.live.load(ordering: .relaxed))")
            }
            try? await Task.sleep(for: .seconds(interval))
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    var all: [MemorySample] { samples.withLock { $0 } }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// Prints a line and flushes it, so that progress shows at once even when
/// the output goes to a file or a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Polls `condition` every 10 ms for at most `timeout` seconds.
func eventually(_ timeout: Double, _ condition: @Sendable () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(timeout)
    while !condition() {
        if clock.now >= deadline { return condition() }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

@main
struct Soak {
    static func main() async {
        let config = Config.fromEnvironment()
        say("ContextStore soak: \(config)")
        let ledger = Ledger()
        let kept = KeptForks(capacity: 512)
        let sampler = Sampler()
        let clock = ContinuousClock()
        let start = clock.now
        let sampling = Task { await sampler.run(start: start, every: config.sampleSeconds, ledger: ledger) }

        // Scope i starts no earlier than i × seconds / scopes, and at most
        // `concurrency` scopes are in flight.
        let interval = config.seconds / Double(config.scopes)
        await withTaskGroup(of: Void.self) { group in
            for id in 1...config.scopes {
                if id > config.concurrency { await group.next() }
                let due = start + .seconds(interval * Double(id - 1))
                if clock.now < due { try? await Task.sleep(until: due, clock: clock) }
                let seed = config.seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(id)
                group.addTask {
                    var scope = RequestScope(id: id, ledger: ledger, kept: kept, rng: SplitMix64(seed: seed))
                    await scope.run()
                }
            }
        }
        let duration = (clock.now - start).seconds
        _ = sampler.sample(at: duration)

        // The kept forks are checked and dropped, the dropped ones finish,
        // and then nothing the run made may be left.
        for fork in kept.drain() { await RequestScope.check(fork, ledger) }
        let droppedFinished = await eventually(60) { ledger.droppedRunning.load(ordering: .relaxed) == 0 }
        // Task teardown may lag behind the last await by a moment.
        _ = await eventually(10) {
            let s = TaskContext.statistics
            return Payload.live.load(ordering: .relaxed) == 0 && s.liveValues == 0 && s.liveNodes == 0
                && s.liveRoots == 0 && s.liveScopes == 0
        }
        sampler.stop()
        await sampling.value
        let end = TaskContext.statistics
        let livePayloads = Payload.live.load(ordering: .relaxed)

        var failed: [String] = []
        func report(_ ok: Bool, _ line: String) {
            say("  \(ok ? "ok  " : "FAIL") \(line)")
            if !ok { failed.append(line) }
        }
        let done = ledger.scopesDone.load(ordering: .relaxed)
        say(
            "\(done) scopes in \(seconds(duration)) (\(Int(Double(done) / max(duration, 0.001)))/s), "
                + "\(ledger.children.load(ordering: .relaxed)) children, "
                + "\(ledger.forksKept.load(ordering: .relaxed)) forks kept, "
                + "\(ledger.forksDropped.load(ordering: .relaxed)) dropped; "
                + "\(ledger.reads.load(ordering: .relaxed)) reads checked")
        report(done == config.scopes, "scopes completed: \(done) of \(config.scopes)")
        report(
            droppedFinished,
            "dropped forks finished: \(droppedFinished ? "all" : "\(ledger.droppedRunning.load(ordering: .relaxed)) still running")"
        )
        report(
            ledger.crossTalk.load(ordering: .relaxed) == 0,
            "cross-talk: \(ledger.crossTalk.load(ordering: .relaxed)) reads saw another scope's data")
        report(ledger.wrong.load(ordering: .relaxed) == 0, "wrong or missing: \(ledger.wrong.load(ordering: .relaxed))")
        report(livePayloads == 0, "live values (Payload objects): \(livePayloads)")
        let storeEmpty = end.liveValues == 0 && end.liveNodes == 0 && end.liveRoots == 0 && end.liveScopes == 0
        report(
            storeEmpty,
            "store: live values \(end.liveValues), nodes \(end.liveNodes), maps \(end.liveRoots), scopes \(end.liveScopes)"
        )
        let samples = sampler.all.filter { $0.seconds <= duration }
        if let verdict = RSSVerdict(samples, duration: duration) {
            report(verdict.isFlat, "\(verdict)")
        } else {
            report(false, "RSS: no samples (is /proc/self/statm readable?)")
        }
        say(
            "  store at the end: \(end.internedKeys) interned names, \(mebibytes(end.bytesInUse)) in use, "
                + "\(mebibytes(end.bytesReserved)) reserved")
        for problem in ledger.firstProblems { say("  first problems: \(problem)") }
        say(failed.isEmpty ? "PASS" : "FAIL: \(failed.count) check(s) failed")
        exit(failed.isEmpty ? 0 : 1)
    }
}
