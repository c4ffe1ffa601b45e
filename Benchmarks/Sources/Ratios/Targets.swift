import ContextStore
import HashTreeCollections
import ServiceContextModule
import Workloads

/// Context sizes of the size-dependent targets.
let sizes = [1, 8, 64, 1024, 65536]

/// Every timed target whose id contains `filter` (all when nil), each a
/// ratio of two sides measured interleaved. Fixtures are built only for the
/// targets chosen. (Allocation targets come from the ordo-one run: counts
/// do not drift.)
func targets(matching filter: String?) -> [Target] {
    func wanted(_ id: String) -> Bool { filter.map { id.contains($0) } ?? true }
    var all: [Target] = []
    let object = Payload(1)
    let probe = ContextKey<Payload>(Fixture.keyName(0))
    let fresh = ContextKey<Payload>("fresh")
    let value = Payload(7)

    let taskLocalRead = Side { ops in
        Locals.$object.withValue(object) { for _ in 0..<ops { sink(Locals.object) } }
    }
    let taskLocalDeepRead = Side { ops in
        Locals.$object.withValue(object) {
            withBindings(30, otherLocals) { for _ in 0..<ops { sink(Locals.object) } }
        }
    }
    let withValueClass = Side { ops in
        for i in 0..<ops { Locals.$object.withValue(object) { sink(i) } }
    }

    for n in sizes
    where ["get-tasklocal-\(n)", "get-servicecontext-\(n)", "get-tasklocal30-\(n)"].contains(where: wanted) {
        let context = Fixture.context(n)
        let get = Side { ops in
            TaskContext.run(with: context) { for _ in 0..<ops { sink(TaskContext.get(probe)) } }
        }
        all.append(
            Target(
                id: "get-tasklocal-\(n)", what: "get (typed, hit), n = \(n.formatted): ÷ `@TaskLocal` class read",
                bound: .atMost, limit: n <= 64 ? 1.3 : 1.6, ours: get, baseline: taskLocalRead))
        let service = Fixture.serviceContext(n)
        all.append(
            Target(
                id: "get-servicecontext-\(n)", what: "get, n = \(n.formatted): ServiceContext read ÷ ContextStore",
                bound: .atLeast, limit: 2.5, ours: get, baseline: serviceContextRead(service)))
        all.append(
            Target(
                id: "get-tasklocal30-\(n)",
                what: "get, n = \(n.formatted): ÷ `@TaskLocal` read with 30 bindings above",
                bound: .atMost, limit: 1.0, ours: get, baseline: taskLocalDeepRead))
    }
    for n in sizes where ["set-treedictionary-\(n)", "set-servicecontext-\(n)"].contains(where: wanted) {
        let context = Fixture.context(n)
        let set = Side { ops in
            TaskContext.run(with: context) {
                try! TaskContext.set(fresh, value)  // the first write copies the shared path
                try! TaskContext.remove(fresh)
                for _ in 0..<ops {
                    try! TaskContext.set(fresh, value)
                    try! TaskContext.remove(fresh)
                }
            }
        }
        let tree = Fixture.tree(n)
        let treeInsert = Side { ops in
            for _ in 0..<ops {
                var copy = tree
                copy[-1] = value
                sink(copy)
            }
        }
        all.append(
            Target(
                id: "set-treedictionary-\(n)",
                what: "set, n = \(n.formatted): TreeDictionary copy + insert ÷ ContextStore",
                bound: .atLeast, limit: n >= 1024 ? 5 : 2, ours: set, baseline: treeInsert))
        all.append(
            Target(
                id: "set-servicecontext-\(n)",
                what: "set, n = \(n.formatted): ServiceContext copy + set + withValue ÷ ContextStore",
                bound: .atLeast, limit: 3, ours: set, baseline: serviceContextWrite(Fixture.serviceContext(n), value)))
    }

    let context64 = Fixture.context(64)
    all.append(
        Target(
            id: "current", what: "`TaskContext.current`, n = 64: ÷ `@TaskLocal` class read", bound: .atMost,
            limit: 1.5,
            ours: Side { ops in
                TaskContext.run(with: context64) {
                    sink(TaskContext.current)
                    for _ in 0..<ops { sink(TaskContext.current) }
                }
            }, baseline: taskLocalRead))

    for n in sizes where wanted("run-copy-\(n)") {
        let context = Fixture.context(n)
        all.append(
            Target(
                id: "run-copy-\(n)",
                what: "`run(inheriting: .copy)`, sync, enclosing scope of \(n.formatted) keys: ÷ `withValue` (class)",
                bound: .atMost, limit: 1.5,
                ours: Side { ops in
                    TaskContext.run(with: context) {
                        for i in 0..<ops { TaskContext.run(inheriting: .copy) { sink(i) } }
                    }
                }, baseline: withValueClass))
    }
    let context8 = Fixture.context(8)
    all.append(
        Target(
            id: "run-copy-async", what: "`await run(inheriting: .copy)`, empty async body: ÷ async `withValue` (class)",
            bound: .atMost, limit: 1.5,
            ours: Side { ops in
                await TaskContext.run(with: context8) {
                    for i in 0..<ops { await TaskContext.run(inheriting: .copy) { () async in sink(i) } }
                }
            },
            baseline: Side { ops in
                for i in 0..<ops { await Locals.$object.withValue(object) { () async in sink(i) } }
            }))
    all.append(
        Target(
            id: "task-copy",
            what: "`Task(inheriting: .copy)` create + await: ÷ the floor, `withValue { Task {} }` (one binding)",
            bound: .atMost, limit: 1.05,
            ours: Side { ops in
                await TaskContext.run(with: context8) {
                    for _ in 0..<ops { await Task(inheriting: .copy) { sink(1) }.value }
                }
            },
            baseline: Side { ops in
                await TaskContext.run(with: context8) {
                    for _ in 0..<ops { await Locals.plainObject.withValue(object) { Task { sink(1) } }.value }
                }
            }))

    all += nameTargets()
    all += requestTargets()
    return all.filter { wanted($0.id) }
}

func serviceContextRead(_ service: ServiceContext) -> Side {
    @Sendable func read<K: PayloadServiceKey>(_ key: K.Type, _ ops: Int) {
        ServiceContext.withValue(service) { for _ in 0..<ops { sink(ServiceContext.current?[key]) } }
    }
    let key = Fixture.serviceKey(0)
    return Side { ops in read(key, ops) }
}

func serviceContextWrite(_ service: ServiceContext, _ value: Payload) -> Side {
    @Sendable func write<K: PayloadServiceKey>(_ key: K.Type, _ ops: Int) {
        ServiceContext.withValue(service) {
            for _ in 0..<ops {
                var copy = ServiceContext.current ?? .topLevel
                copy[key] = value
                ServiceContext.withValue(copy) { sink(copy.count) }
            }
        }
    }
    let key = Fixture.serviceKey(1 << 17)
    return Side { ops in write(key, ops) }
}

/// Reads by name against typed reads of the same keys, a different key
/// each call (over the map's 8 names), so that no name is hot. The targets
/// use names as code spells them, literals; names built at run time (from a
/// header, a config file) are reported beside them: their cache entries are
/// checked against their bytes (see `_checkedCacheKey`).
func nameTargets() -> [Target] {
    let short = ["key-0", "key-1", "key-2", "key-3", "key-4", "key-5", "key-6", "key-7"]
    let long = [
        "request.attributes.user.locale.0", "request.attributes.user.locale.1", "request.attributes.user.locale.2",
        "request.attributes.user.locale.3", "request.attributes.user.locale.4", "request.attributes.user.locale.5",
        "request.attributes.user.locale.6", "request.attributes.user.locale.7",
    ]
    let unicode = [
        "clé.utilisateur.0", "clé.utilisateur.1", "clé.utilisateur.2", "clé.utilisateur.3", "clé.utilisateur.4",
        "clé.utilisateur.5", "clé.utilisateur.6", "clé.utilisateur.7",
    ]
    /// The same names, built at run time.
    func built(_ names: [String]) -> [String] { names.map { String(decoding: Array($0.utf8), as: UTF8.self) + "" } }
    let kinds: [(id: String, what: String, bound: Target.Bound, limit: Double, names: [String])] = [
        ("name-short", "get by name (ASCII, 5 bytes), a different name each call: ÷ typed get", .atMost, 1.3, short),
        ("name-32", "get by name (ASCII, 32 bytes), a different name each call: ÷ typed get", .atMost, 1.3, long),
        ("name-unicode", "get by name (non-ASCII), a different name each call: ÷ typed get", .atMost, 2.0, unicode),
        ("name-32-built", "get by name (ASCII, 32 bytes, built at run time): ÷ typed get", .report, 0, built(long)),
        ("name-unicode-built", "get by name (non-ASCII, built at run time): ÷ typed get", .report, 0, built(unicode)),
    ]
    var all = kinds.map { kind in
        let keys = kind.names.map(ContextKey<Payload>.init)
        let context = keys.enumerated().reduce(TaskContext()) { try! $0.setting($1.element, Payload($1.offset)) }
        let names = kind.names
        return Target(
            id: kind.id, what: kind.what, bound: kind.bound, limit: kind.limit,
            ours: Side { ops in
                TaskContext.run(with: context) { for i in 0..<ops { sink(TaskContext.get(names[i & 7])) } }
            },
            baseline: Side { ops in
                TaskContext.run(with: context) { for i in 0..<ops { sink(TaskContext.get(keys[i & 7])) } }
            })
    }
    // Two rows over the 32-byte names, against the same typed reads.
    let keys = long.map(ContextKey<Payload>.init)
    let context = keys.enumerated().reduce(TaskContext()) { try! $0.setting($1.element, Payload($1.offset)) }
    let typedGet = Side { ops in
        TaskContext.run(with: context) { for i in 0..<ops { sink(TaskContext.get(keys[i & 7])) } }
    }
    // A floor for every read by name: the typed read itself, its result
    // returned as `(any Sendable)?`, the type `get(name)` returns. No name
    // lookup is cheaper than a typed key's, which costs nothing, so a read
    // by name can beat this row only by making its existential more cheaply
    // (this row wraps an Optional first: a few instructions for a class).
    all.append(
        Target(
            id: "name-floor-existential",
            what: "typed get returned as `(any Sendable)?` (the floor of a read by name): ÷ typed get",
            bound: .report, limit: 0,
            ours: Side { ops in
                TaskContext.run(with: context) { for i in 0..<ops { sink(_existential(TaskContext.get(keys[i & 7]))) } }
            },
            baseline: typedGet))
    // The same reads with the type given (`get(_:as:)`): no existential to
    // make, copy and destroy on the way out.
    all.append(
        Target(
            id: "name-32-as", what: "get by name with its type, `get(_:as:)` (ASCII, 32 bytes): ÷ typed get",
            bound: .report, limit: 0,
            ours: Side { ops in
                TaskContext.run(with: context) {
                    for i in 0..<ops { sink(TaskContext.get(long[i & 7], as: Payload.self)) }
                }
            },
            baseline: typedGet))
    return all
}

/// The request-shaped workload against what a user would write instead.
func requestTargets() -> [Target] {
    let ours = Side { ops in for _ in 0..<ops { await Request.contextStore() } }
    let built = Request.builtRequestID
    return [
        Target(
            id: "request-struct", what: "a request (`Request.swift`): ÷ a struct in one `@TaskLocal`", bound: .atMost,
            limit: 1.0, ours: ours, baseline: Side { ops in for _ in 0..<ops { await Request.structTaskLocal() } }),
        Target(
            id: "request-servicecontext", what: "a request: ÷ ServiceContext (copy, set, `withValue`)", bound: .atMost,
            limit: 0.5, ours: ours, baseline: Side { ops in for _ in 0..<ops { await Request.serviceContext() } }),
        Target(
            id: "request-logging",
            what: "a request logging 4 lines: metadata provider ÷ swift-log's `withLogger(mergingMetadata:)`",
            bound: .atMost, limit: 0.8, ours: Side { ops in for _ in 0..<ops { await Request.contextStoreLogging() } },
            baseline: Side { ops in for _ in 0..<ops { await Request.swiftLogTaskLocal() } }),
        // A floor for any logging request with this handler: its four lines
        // alone, the values already in the handler's metadata (no scope, no
        // reads, no child, no provider). The ContextStore variant formats
        // the same lines and does more besides, so its ratio cannot be below
        // this row's.
        Target(
            id: "request-logging-floor",
            what: "the 4 log lines alone, values in the handler's metadata (the floor of the logging request): "
                + "÷ swift-log's `withLogger(mergingMetadata:)`",
            bound: .report, limit: 0, ours: Side { ops in for _ in 0..<ops { Request.logLinesOnly() } },
            baseline: Side { ops in for _ in 0..<ops { await Request.swiftLogTaskLocal() } }),
        // The same request with its `request_id` made at run time, as a
        // server gets it, on both sides: ContextStore boxes it (one malloc),
        // where it keeps the literal of the rows above in the store's word.
        Target(
            id: "request-struct-built",
            what: "a request, `request_id` made at run time (boxed): ÷ a struct in one `@TaskLocal`", bound: .report,
            limit: 0, ours: Side { ops in for _ in 0..<ops { await Request.contextStore(requestID: built) } },
            baseline: Side { ops in for _ in 0..<ops { await Request.structTaskLocal(requestID: built) } }),
    ]
}

extension Int {
    /// 65536 as "65,536".
    var formatted: String {
        let digits = String(self)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }
}

extension String {
    /// The string cut or padded with "x" to `length` bytes (ASCII only).
    func padding(to length: Int) -> String {
        let bytes = Array(utf8.prefix(length))
        return String(decoding: bytes + Array(repeating: UInt8(ascii: "x"), count: length - bytes.count), as: UTF8.self)
    }
}

/// `value` as the type a read by name returns.
@inline(__always)
func _existential(_ value: Payload?) -> (any Sendable)? {
    value.map { $0 as any Sendable }
}
