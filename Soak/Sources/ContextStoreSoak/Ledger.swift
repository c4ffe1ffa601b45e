import ContextStore
import Synchronization

/// A context value that counts its live instances, so that the end of the
/// run can prove every one of them was freed.
final class Payload: Sendable {
    static let live = Atomic<Int>(0)

    /// The request (scope number) it belongs to.
    let request: Int

    init(request: Int) {
        self.request = request
        Payload.live.add(1, ordering: .relaxed)
    }

    deinit {
        Payload.live.subtract(1, ordering: .relaxed)
    }
}

/// What every scope, child and fork checked, written from thousands of tasks.
final class Ledger: Sendable {
    /// Reads checked.
    let reads = Atomic<Int>(0)
    /// Reads that saw another request's data.
    let crossTalk = Atomic<Int>(0)
    /// Reads that saw nothing where their own request's data belonged, and
    /// writes that threw.
    let wrong = Atomic<Int>(0)
    let scopesDone = Atomic<Int>(0)
    let children = Atomic<Int>(0)
    let forksKept = Atomic<Int>(0)
    let forksDropped = Atomic<Int>(0)
    /// Dropped forks still running.
    let droppedRunning = Atomic<Int>(0)
    private let samples = Mutex<[String]>([])

    /// Checks that a read of a value that encodes a request saw `expected`.
    /// A value of another request is cross-talk; nil or a malformed value
    /// is wrong.
    func check(_ seen: Int?, is expected: Int, _ what: @autoclosure () -> String) {
        reads.add(1, ordering: .relaxed)
        guard seen != expected else { return }
        if let seen, Keys.request(of: seen) != Keys.request(of: expected) {
            crossTalk.add(1, ordering: .relaxed)
            note("cross-talk: \(what()) saw \(seen), expected \(expected)")
        } else {
            wrong.add(1, ordering: .relaxed)
            note("wrong: \(what()) saw \(seen.map(String.init) ?? "nil"), expected \(expected)")
        }
    }

    func fail(_ what: String) {
        wrong.add(1, ordering: .relaxed)
        note("wrong: \(what)")
    }

    private func note(_ what: String) {
        samples.withLock { if $0.count < 10 { $0.append(what) } }
    }

    var firstProblems: [String] { samples.withLock { $0 } }
}

/// The keys every scope uses. Their names form a fixed set: names are
/// interned for the life of the process, so a workload that made a new
/// name per request would grow without bound by design, and hide any real
/// leak.
enum Keys {
    /// The request's id, stored as `value(request, 32)`.
    static let request = ContextKey<Int>("soak.request")
    static let payload = ContextKey<Payload>("soak.payload")
    /// Keys a scope sets a random number of, each to `value(request, index)`.
    static let pool = (0..<16).map { ContextKey<Int>("soak.pool.\($0)") }
    /// The key a child of each mode writes, to `value(request, 33)`.
    static let child: [Inheritance: ContextKey<Int>] = [
        .copy: ContextKey<Int>("soak.child.copy"),
        .share: ContextKey<Int>("soak.child.share"),
        .chain: ContextKey<Int>("soak.child.chain"),
    ]

    /// Every Int a scope stores: the request and the slot (a pool key's
    /// index, 32 for the request id, 33 for a child's key) both recoverable,
    /// so that a stray value is recognised as another request's.
    static func value(_ request: Int, _ index: Int) -> Int {
        request * 64 + index
    }

    /// The request a stored Int (a `value`) belongs to.
    static func request(of value: Int) -> Int {
        value / 64
    }
}
