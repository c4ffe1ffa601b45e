// Instruction counts per operation, under valgrind --tool=callgrind
// (`make callgrind`). Wall-clock time on these VMs drifts by 2x from one
// hour to the next; instruction counts do not, so this is how a change to
// the C core or the scope path shows that it costs nothing.
//
// Usage: InstructionCounts OPERATION ITERATIONS
// The script runs each operation at two iteration counts and divides the
// difference in collected instructions by the difference in iterations,
// which cancels start-up and set-up.
//
// Only synchronous paths: valgrind on this VM stops a Swift program that
// starts a second thread, and any `Task` would.
import ContextStore
import Logging
import Workloads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

final class Payload: Sendable {
    let id: Int
    init(_ id: Int) { self.id = id }
}

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

func context(_ n: Int) -> TaskContext {
    var context = TaskContext()
    for i in 0..<n { context = try! context.setting(ContextKey<Payload>("key-\(i)"), Payload(i)) }
    return context
}

let operations: [String: (Int) -> Void] = [
    // A typed read that hits, in a scope holding 8 keys.
    "get": { iterations in
        let key = ContextKey<Payload>("key-0")
        TaskContext.run(with: context(8)) {
            for _ in 0..<iterations { blackHole(TaskContext.get(key)) }
        }
    },
    // A new key and its removal, in a scope holding 1 key (both in place).
    "set-remove": { iterations in
        let fresh = ContextKey<Payload>("fresh")
        let value = Payload(7)
        TaskContext.run(with: context(1)) {
            try! TaskContext.set(fresh, value)
            try! TaskContext.remove(fresh)
            for _ in 0..<iterations {
                try! TaskContext.set(fresh, value)
                try! TaskContext.remove(fresh)
            }
        }
    },
    // A replace of an existing key's value, in a scope holding 8 keys.
    "replace": { iterations in
        let key = ContextKey<Payload>("key-0")
        let value = Payload(7)
        TaskContext.run(with: context(8)) {
            try! TaskContext.set(key, value)
            for _ in 0..<iterations { try! TaskContext.set(key, value) }
        }
    },
    // A synchronous copy scope with an empty body, inside a scope of 8 keys.
    "run-copy": { iterations in
        TaskContext.run(with: context(8)) {
            for _ in 0..<iterations { TaskContext.run(inheriting: .copy) { blackHole(0) } }
        }
    },
    // A read by name (one name), in a scope holding 8 keys.
    "get-name": { iterations in
        TaskContext.run(with: context(8)) {
            for _ in 0..<iterations { blackHole(TaskContext.get("key-0")) }
        }
    },
    // A read by name built at run time (32 bytes, on the heap), in a scope
    // holding it and 7 more keys: found in the checked key cache (see
    // `_checkedCacheKey`).
    "get-name-built": { iterations in
        let name = String(decoding: Array("request.attributes.user.locale.0".utf8), as: UTF8.self)
        let keys = [ContextKey<Payload>(name)] + (1..<8).map { ContextKey<Payload>("key-\($0)") }
        let context = keys.reduce(TaskContext()) { try! $0.setting($1, Payload(1)) }
        TaskContext.run(with: context) {
            for _ in 0..<iterations { blackHole(TaskContext.get(name)) }
        }
    },
    // One log line through ContextStoreLogging's provider (4 keys), into a
    // handler that formats the metadata.
    "log-provider": { iterations in
        TaskContext.run(inheriting: .copy) {
            Request.writeValues()
            let logger = Request.providerLogger
            for _ in 0..<iterations { logger.info("request received") }
        }
    },
    // A request's first log line: its scope, its four writes, then one line
    // through the provider, which makes the metadata for this version of
    // the context (less `request-writes` and `log-provider`: what making
    // it costs, with its teardown at the scope's end).
    "log-first-line": { iterations in
        let logger = Request.providerLogger
        for _ in 0..<iterations {
            TaskContext.run(inheriting: .copy) {
                Request.writeValues()
                logger.info("request received")
            }
        }
    },
    // The same line through swift-log's task-local logger, its 4 values
    // merged by `withLogger(mergingMetadata:)`.
    "log-tasklocal": { iterations in
        Request.bootstrapLogging()
        withLogger(mergingMetadata: Request.swiftLogMetadata) { _ in
            for _ in 0..<iterations { Logger.current.info("request received") }
        }
    },
    // A request's scope and its four writes (two Strings, ... see
    // `Request.writeValues`), with no scope enclosing, as a server opens it.
    "request-writes": { iterations in
        for _ in 0..<iterations { TaskContext.run(inheriting: .copy) { Request.writeValues() } }
    },
    // The same scope and writes, then a snapshot of it (`TaskContext.current`),
    // which moves the pending writes into a map, as the first log line's
    // metadata or a first `.chain` child does.
    "request-snapshot": { iterations in
        for _ in 0..<iterations {
            TaskContext.run(inheriting: .copy) {
                Request.writeValues()
                blackHole(TaskContext.current)
            }
        }
    },
    // The first write after a fork: a copy scope over 8 keys and one set.
    "first-write": { iterations in
        let fresh = ContextKey<Payload>("fresh")
        let value = Payload(7)
        TaskContext.run(with: context(8)) {
            for _ in 0..<iterations {
                TaskContext.run(inheriting: .copy) { try! TaskContext.set(fresh, value) }
            }
        }
    },
]

// Async operations, run from top-level code: on the main actor, which the
// main thread drains, and with `run`'s isolation parameter the body stays
// there, so no second thread starts.
let asyncOperations: [String: @MainActor (Int) async -> Void] = [
    // An async copy scope with an empty async body, inside a scope of 8 keys.
    "run-copy-async": { iterations in
        await TaskContext.run(with: context(8)) {
            for i in 0..<iterations { await TaskContext.run(inheriting: .copy) { () async in blackHole(i) } }
        }
    },
    // The baseline: an async withValue of a class.
    "withvalue-async": { iterations in
        let object = Payload(1)
        for i in 0..<iterations { await Locals.$object.withValue(object) { () async in blackHole(i) } }
    },
]

enum Locals {
    @TaskLocal static var object: Payload?
}

let arguments = CommandLine.arguments
let names = (Array(operations.keys) + Array(asyncOperations.keys)).sorted().joined(separator: "|")
guard arguments.count == 3, let iterations = Int(arguments[2]) else {
    print("usage: InstructionCounts {\(names)} ITERATIONS")
    exit(2)
}
if let operation = operations[arguments[1]] {
    operation(iterations)
} else if let operation = asyncOperations[arguments[1]] {
    await operation(iterations)
} else {
    print("usage: InstructionCounts {\(names)} ITERATIONS")
    exit(2)
}
