import CContextStore
import CContextStoreSPI
import ContextStoreTestSupport
import Foundation
import Testing

// Shared machinery of the C API tests: backends, the lifetime tracker behind
// the value callbacks, and `withStore`, which gives every test its own store
// and proves at the end that nothing leaked. (The deterministic generator,
// SplitMix64, is in ContextStoreTestSupport.)

/// The allocator backends every map test runs on.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case arena
    case malloc

    var c: ctxs_backend {
        switch self {
        case .arena: CTXS_BACKEND_ARENA
        case .malloc: CTXS_BACKEND_MALLOC
        }
    }

    var testDescription: String { rawValue }
}

let statusOK = CTXS_OK.rawValue
let statusENOMEM = CTXS_ENOMEM.rawValue
let statusEINVAL = CTXS_EINVAL.rawValue
let statusEBUSY = CTXS_EBUSY.rawValue

/// An untracked value: a small non-zero integer disguised as a pointer, for
/// stores that have no value callbacks.
func intValue(_ v: Int) -> UnsafeMutableRawPointer {
    precondition(v >= 1)
    return UnsafeMutableRawPointer(bitPattern: UInt(v))!
}

/// A pointer that may cross threads. The C API is thread-safe; the pointer
/// types Swift imports it with are not `Sendable`.
struct SendablePointer: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
}

// MARK: - Lifetime tracking

/// Counts the retains and releases one store makes through its callbacks
/// (per value address, too) and which tracked values are still alive.
final class LifetimeTracker: Sendable {
    struct Counts: Equatable {
        var retains = 0
        var releases = 0
    }

    private struct State {
        var totals = Counts()
        var perValue: [UInt: Counts] = [:]
        var created = 0
        var alive: Set<Int> = []
    }

    private let state = Locked(State())

    /// Code to run inside the retain / release callbacks (after counting),
    /// for tests of what a callback may do.
    typealias Hook = @Sendable (UnsafeMutableRawPointer) -> Void
    private let hooks = Locked<(retain: Hook?, release: Hook?)>((nil, nil))

    func setHooks(retain: Hook? = nil, release: Hook? = nil) {
        hooks.withLock { $0 = (retain, release) }
    }

    var counts: Counts { state.withLock { $0.totals } }
    var retains: Int { counts.retains }
    var releases: Int { counts.releases }

    /// Retains and releases made for one value address.
    func counts(of value: UnsafeMutableRawPointer) -> Counts {
        state.withLock { $0.perValue[UInt(bitPattern: value), default: Counts()] }
    }

    /// Addresses whose retains and releases differ.
    var unbalancedValues: [UInt] {
        state.withLock { s in s.perValue.filter { $0.value.retains != $0.value.releases }.map(\.key) }
    }

    var createdCount: Int { state.withLock { $0.created } }
    var aliveCount: Int { state.withLock { $0.alive.count } }
    func isAlive(_ id: Int) -> Bool { state.withLock { $0.alive.contains(id) } }

    /// A new tracked value. The caller owns the only strong reference.
    func makeValue() -> TrackedValue { TrackedValue(tracker: self) }

    fileprivate func born() -> Int {
        state.withLock { s in
            s.created += 1
            s.alive.insert(s.created)
            return s.created
        }
    }

    fileprivate func died(_ id: Int) {
        state.withLock { _ = $0.alive.remove(id) }
    }

    fileprivate func recordRetain(_ value: UnsafeMutableRawPointer) {
        state.withLock { s in
            s.totals.retains += 1
            s.perValue[UInt(bitPattern: value), default: Counts()].retains += 1
        }
        hooks.withLock { $0.retain }?(value)
    }

    fileprivate func recordRelease(_ value: UnsafeMutableRawPointer) {
        state.withLock { s in
            s.totals.releases += 1
            s.perValue[UInt(bitPattern: value), default: Counts()].releases += 1
        }
        hooks.withLock { $0.release }?(value)
    }
}

/// A Swift object handed to C as an unretained opaque pointer. Its deinit
/// tells the tracker it died.
final class TrackedValue: Sendable {
    let id: Int
    let tracker: LifetimeTracker

    init(tracker: LifetimeTracker) {
        self.tracker = tracker
        self.id = tracker.born()
    }

    deinit { tracker.died(id) }

    /// The pointer C stores. It does not keep the object alive.
    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// The tracked value behind a pointer C handed back (not retained).
    static func from(_ pointer: UnsafeMutableRawPointer) -> TrackedValue {
        Unmanaged<TrackedValue>.fromOpaque(pointer).takeUnretainedValue()
    }
}

private func trackerFromContext(_ context: UnsafeMutableRawPointer?) -> LifetimeTracker {
    Unmanaged<LifetimeTracker>.fromOpaque(context!).takeUnretainedValue()
}

/// Options whose callbacks retain and release the Swift object behind each
/// value and count every call in `tracker`.
func trackedOptions(_ tracker: LifetimeTracker, backend: Backend) -> ctxs_store_options {
    var options = ctxs_store_options()
    options.retain = { context, value in
        trackerFromContext(context).recordRetain(value)
        _ = Unmanaged<AnyObject>.fromOpaque(value).retain()
    }
    options.release = { context, value in
        trackerFromContext(context).recordRelease(value)
        Unmanaged<AnyObject>.fromOpaque(value).release()
    }
    options.context = Unmanaged.passUnretained(tracker).toOpaque()
    options.backend = backend.c
    return options
}

// MARK: - The per-test store

/// One test's store, with its tracker and the tracked values kept alive until
/// the end of the test.
final class StoreFixture: @unchecked Sendable {
    let store: OpaquePointer
    let tracker: LifetimeTracker
    let backend: Backend
    let tracked: Bool
    private let kept = Locked<[TrackedValue]>([])

    fileprivate init(store: OpaquePointer, tracker: LifetimeTracker, backend: Backend, tracked: Bool) {
        self.store = store
        self.tracker = tracker
        self.backend = backend
        self.tracked = tracked
    }

    /// A fresh tracked value that lives until the end of the test.
    func value() -> UnsafeMutableRawPointer {
        let v = tracker.makeValue()
        kept.withLock { $0.append(v) }
        return v.pointer
    }

    /// `n` fresh tracked values that live until the end of the test.
    func values(_ n: Int) -> [UnsafeMutableRawPointer] { (0..<n).map { _ in value() } }

    fileprivate func dropKeptValues() { kept.withLock { $0.removeAll() } }

    var stats: ctxs_statistics {
        var s = ctxs_statistics()
        ctxs_store_statistics(store, &s)
        return s
    }

    var allocationCount: UInt64 { ctxs_store_allocation_count(store) }

    /// Releases a +1 value handed out by a slot read, the way the store would.
    func releaseValue(_ value: UnsafeMutableRawPointer) {
        guard tracked else { return }
        tracker.recordRelease(value)
        Unmanaged<AnyObject>.fromOpaque(value).release()
    }

    // MARK: Map helpers

    func emptyMap() -> OpaquePointer { ctxs_map_new(store) }

    /// `map` plus key -> value, as a new +1 map.
    func assoc(
        _ map: OpaquePointer, _ key: UInt64, _ value: UnsafeMutableRawPointer,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> OpaquePointer {
        var out: OpaquePointer? = nil
        let rc = ctxs_map_assoc(map, key, value, &out)
        try #require(rc == statusOK, "ctxs_map_assoc returned \(rc)", sourceLocation: sourceLocation)
        return try #require(out, sourceLocation: sourceLocation)
    }

    /// `map` without `key`, as a new +1 map.
    func without(
        _ map: OpaquePointer, _ key: UInt64, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> OpaquePointer {
        var out: OpaquePointer? = nil
        let rc = ctxs_map_without(map, key, &out)
        try #require(rc == statusOK, "ctxs_map_without returned \(rc)", sourceLocation: sourceLocation)
        return try #require(out, sourceLocation: sourceLocation)
    }

    /// A +1 map holding exactly `entries`, inserted in the given order.
    func map(
        _ entries: [(UInt64, UnsafeMutableRawPointer)], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> OpaquePointer {
        var m = emptyMap()
        for (k, v) in entries {
            let next = try assoc(m, k, v, sourceLocation: sourceLocation)
            ctxs_map_release(m)
            m = next
        }
        return m
    }

    /// The slot's effective contents, as a +1 map.
    func snapshot(_ slot: OpaquePointer, sourceLocation: SourceLocation = #_sourceLocation) throws -> OpaquePointer {
        var out: OpaquePointer? = nil
        let rc = ctxs_slot_snapshot(slot, &out)
        try #require(rc == statusOK, "ctxs_slot_snapshot returned \(rc)", sourceLocation: sourceLocation)
        return try #require(out, sourceLocation: sourceLocation)
    }

    /// Reads `key` through a slot; releases the +1 reference the read returns.
    func slotFind(_ slot: OpaquePointer, _ key: UInt64) -> UnsafeMutableRawPointer? {
        var v: UnsafeMutableRawPointer? = nil
        let r = ctxs_slot_find(slot, key, &v)
        guard r == 1, let v else { return nil }
        releaseValue(v)
        return v
    }
}

/// The value `map` holds at `key` (borrowed), or nil.
func find(_ map: OpaquePointer, _ key: UInt64) -> UnsafeMutableRawPointer? {
    var v: UnsafeMutableRawPointer? = nil
    return ctxs_map_find(map, key, &v) == 1 ? v : nil
}

/// Every entry of `map`, read with ctxs_map_iter. Records an issue if the
/// iterator yields a key twice or a number of entries other than the count.
func entries(
    of map: OpaquePointer, sourceLocation: SourceLocation = #_sourceLocation
) -> [UInt64: UnsafeMutableRawPointer] {
    var iter = ctxs_map_iter()
    ctxs_map_iter_init(&iter, map)
    var result: [UInt64: UnsafeMutableRawPointer] = [:]
    var yielded = 0
    var key: UInt64 = 0
    var value: UnsafeMutableRawPointer? = nil
    while ctxs_map_iter_next(&iter, &key, &value) == 1 {
        yielded += 1
        guard let v = value else {
            Issue.record("iterator yielded a NULL value for key \(key)", sourceLocation: sourceLocation)
            continue
        }
        if result.updateValue(v, forKey: key) != nil {
            Issue.record("iterator yielded key \(key) twice", sourceLocation: sourceLocation)
        }
    }
    #expect(yielded == ctxs_map_count(map), "iteration length vs count", sourceLocation: sourceLocation)
    #expect(ctxs_map_iter_next(&iter, nil, nil) == 0, "exhausted iterator stays done", sourceLocation: sourceLocation)
    return result
}

/// Whether `map` holds exactly `model`, checked by count, by a find of every
/// model key, and by a full iteration.
func mapMatches(_ map: OpaquePointer, _ model: [UInt64: UnsafeMutableRawPointer]) -> Bool {
    guard ctxs_map_count(map) == model.count else { return false }
    for (k, v) in model where find(map, k) != v { return false }
    return entries(of: map) == model
}

/// Converts an integer model to the pointers a no-callback store holds.
func pointerModel(_ model: [UInt64: Int]) -> [UInt64: UnsafeMutableRawPointer] {
    model.mapValues(intValue)
}

// MARK: - withStore

/// Runs `body` with a fresh store of `backend` and then proves the test left
/// nothing behind: no live root, node, value or slot; every retain matched by
/// exactly one release (per value, too); the store destroys with CTXS_OK; and
/// every tracked value has been deinitialised.
///
/// `tracked: false` creates a store without value callbacks, for tests whose
/// values are integers disguised as pointers.
///
///     @Test(arguments: Backend.allCases)
///     func example(backend: Backend) throws {
///         try withStore(backend: backend) { s in
///             let m = try s.map([(1, s.value())])
///             ctxs_map_release(m)
///         }
///     }
func withStore(
    backend: Backend = .arena,
    tracked: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (StoreFixture) throws -> Void
) throws {
    let tracker = LifetimeTracker()
    let store: OpaquePointer?
    if tracked {
        var options = trackedOptions(tracker, backend: backend)
        store = ctxs_store_create(&options)
    } else {
        var options = ctxs_store_options()
        options.backend = backend.c
        store = ctxs_store_create(&options)
    }
    let created = try #require(store, "ctxs_store_create failed", sourceLocation: sourceLocation)
    #expect(ctxs_store_backend(created) == backend.c, sourceLocation: sourceLocation)
    let fixture = StoreFixture(store: created, tracker: tracker, backend: backend, tracked: tracked)

    do {
        try body(fixture)
    } catch {
        // The test already failed; free what can be freed and report that.
        _ = ctxs_store_destroy(created)
        throw error
    }

    let s = fixture.stats
    #expect(s.live_roots == 0, "live roots left", sourceLocation: sourceLocation)
    #expect(s.live_nodes == 0, "live nodes left", sourceLocation: sourceLocation)
    #expect(s.live_values == 0, "live values left", sourceLocation: sourceLocation)
    #expect(s.live_slots == 0, "live slots left", sourceLocation: sourceLocation)
    #expect(ctxs_store_destroy(created) == statusOK, "ctxs_store_destroy", sourceLocation: sourceLocation)

    fixture.dropKeptValues()
    let counts = tracker.counts
    #expect(counts.retains == counts.releases, "retains vs releases", sourceLocation: sourceLocation)
    #expect(tracker.unbalancedValues.isEmpty, "values retained and released unequally", sourceLocation: sourceLocation)
    #expect(tracker.aliveCount == 0, "tracked values still alive", sourceLocation: sourceLocation)
    if !tracked {
        #expect(
            counts == LifetimeTracker.Counts(), "callbacks ran on a store without callbacks",
            sourceLocation: sourceLocation)
    }
}

/// The live_* counters of a store, for before/after comparisons.
struct LiveCounts: Equatable, CustomStringConvertible {
    var roots: Int
    var nodes: Int
    var values: Int
    var slots: Int
    var bytesInUse: Int

    init(_ s: ctxs_statistics) {
        roots = s.live_roots
        nodes = s.live_nodes
        values = s.live_values
        slots = s.live_slots
        bytesInUse = s.bytes_in_use
    }

    var description: String {
        "roots \(roots), nodes \(nodes), values \(values), slots \(slots), bytes \(bytesInUse)"
    }
}

extension StoreFixture {
    var live: LiveCounts { LiveCounts(stats) }
}

/// A value behind an `NSLock` (a pthread mutex). Not `Mutex` from
/// Synchronization: ThreadSanitizer cannot see that lock on Linux and
/// reports false races under `make tsan`.
final class Locked<Value>: @unchecked Sendable {
    // Safe: `value` is only touched inside `withLock`, under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
