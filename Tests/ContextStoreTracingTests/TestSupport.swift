import ContextStore
import ContextStoreTestSupport
import Instrumentation
import Testing

// Every suite of this target is nested in `TracingTests`, which holds
// `GlobalStoreLock` while it runs (see there). The codec suites touch no
// store, but sharing one root keeps the rule simple.

@Suite(.exclusiveGlobalStore)
struct TracingTests {}

/// A carrier of HTTP-like headers: names lowercased, several values per name.
struct Headers: Sendable, Equatable {
    var fields: [String: [String]] = [:]
}

struct HeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout Headers) {
        carrier.fields[key.lowercased(), default: []].append(value)
    }
}

/// Joins several headers of one name with ",", as RFC 7230 section 3.2.2 allows.
struct HeadersExtractor: Extractor {
    func extract(key: String, from carrier: Headers) -> String? {
        carrier.fields[key.lowercased()]?.joined(separator: ",")
    }
}

/// A deterministic generator (SplitMix64), so that a failing random input
/// can be reproduced from the seed in the failure message.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
