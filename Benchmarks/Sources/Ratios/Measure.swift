#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One side of a ratio: runs `ops` operations.
struct Side: Sendable {
    let run: @Sendable (Int) async -> Void
}

/// A performance target: a ratio of two sides measured interleaved.
struct Target: Sendable {
    /// `report`: shown beside the targets, with no limit.
    enum Bound: Sendable { case atMost, atLeast, report }
    /// Stable id, the report's key.
    let id: String
    /// What the ratio is, for RESULTS.md.
    let what: String
    let bound: Bound
    let limit: Double
    /// The measured side (numerator for `atMost`, denominator for `atLeast`).
    let ours: Side
    /// The side it is compared with.
    let baseline: Side
}

/// What one target measured: the ratio per round, and ns per operation of
/// each side per round.
struct Outcome {
    var ratios: [Double]
    var ours: [Double]
    var baseline: [Double]
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Seconds `side` takes for `ops` operations.
func seconds(_ side: Side, _ ops: Int) async -> Double {
    let start = now()
    await side.run(ops)
    return now() - start
}

/// Measures a target: ops per block calibrated so that a block of the
/// slower side takes about `block` seconds, a warm-up, then `rounds`
/// rounds of one block of each side, in alternating order (ours first in
/// even rounds), so that drift over the run moves both sides of each
/// round's ratio alike.
func measure(_ target: Target, rounds: Int, block: Double) async -> Outcome {
    var ops = 1
    while ops < 1 << 24 {
        let slower = max(await seconds(target.ours, ops), await seconds(target.baseline, ops))
        if slower >= block / 4 {
            ops = max(1, Int(Double(ops) * block / slower))
            break
        }
        ops *= 4
    }
    for _ in 0..<2 {
        _ = await seconds(target.ours, ops)
        _ = await seconds(target.baseline, ops)
    }
    let perOp = 1e9 / Double(ops)
    return await interleave(
        rounds: rounds, inverted: target.bound == .atLeast,
        ours: { await seconds(target.ours, ops) * perOp },
        baseline: { await seconds(target.baseline, ops) * perOp })!
}

/// `rounds` rounds of one figure of each side, in alternating order (ours
/// first in even rounds), so that drift over the run moves both figures of
/// a round alike. A round's ratio is ours ÷ baseline, or baseline ÷ ours
/// when `inverted`. Returns nil when a side fails (returns nil).
func interleave(
    rounds: Int, inverted: Bool = false, ours: () async -> Double?, baseline: () async -> Double?
) async -> Outcome? {
    var outcome = Outcome(ratios: [], ours: [], baseline: [])
    for round in 0..<rounds {
        var a: Double?
        var b: Double?
        if round % 2 == 0 {
            a = await ours()
            b = await baseline()
        } else {
            b = await baseline()
            a = await ours()
        }
        guard let a, let b else { return nil }
        outcome.ours.append(a)
        outcome.baseline.append(b)
        outcome.ratios.append(inverted ? b / a : a / b)
    }
    return outcome
}

/// The q-quantile (0...1) of `values`, by linear interpolation.
func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let position = q * Double(sorted.count - 1)
    let low = Int(position.rounded(.down))
    let high = Int(position.rounded(.up))
    return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
}
