#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The run's parameters, from the environment.
struct Config: Sendable, CustomStringConvertible {
    /// Request-like scopes to run in all (`SOAK_SCOPES`).
    var scopes = 100_000
    /// The time the scopes are spread over (`SOAK_SECONDS`): scope i starts
    /// no earlier than i × seconds / scopes after the start. A machine too
    /// slow for that rate simply takes longer.
    var seconds = 180.0
    /// Scopes in flight at once (`SOAK_CONCURRENCY`).
    var concurrency = 64
    /// Seed of the per-scope random choices (`SOAK_SEED`).
    var seed: UInt64 = 1
    /// Seconds between two RSS samples (`SOAK_SAMPLE_SECONDS`).
    var sampleSeconds = 2.0

    static func fromEnvironment() -> Config {
        var config = Config()
        config.scopes = number("SOAK_SCOPES", config.scopes, at: 1)
        config.seconds = number("SOAK_SECONDS", config.seconds, at: 0)
        config.concurrency = number("SOAK_CONCURRENCY", config.concurrency, at: 1)
        config.seed = number("SOAK_SEED", config.seed, at: 0)
        config.sampleSeconds = number("SOAK_SAMPLE_SECONDS", config.sampleSeconds, at: 0.1)
        return config
    }

    /// The variable `name` as a number of at least `minimum`, else `fallback`;
    /// a value that is not one stops the run with a message.
    private static func number<N: LosslessStringConvertible & Comparable>(
        _ name: String, _ fallback: N, at minimum: N
    ) -> N {
        guard let raw = getenv(name) else { return fallback }
        let text = String(cString: raw)
        guard let value = N(text), value >= minimum else {
            say("soak: \(name)=\(text) is not a number of at least \(minimum)")
            exit(2)
        }
        return value
    }

    var description: String {
        "SOAK_SCOPES=\(scopes) SOAK_SECONDS=\(seconds) SOAK_CONCURRENCY=\(concurrency) SOAK_SEED=\(seed) "
            + "SOAK_SAMPLE_SECONDS=\(sampleSeconds)"
    }
}

/// SplitMix64: a small, seedable generator, so each scope's choices can be
/// replayed from the seed and its number.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
