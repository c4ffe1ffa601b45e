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
