import ContextStore
import HashTreeCollections
import ServiceContextModule

// The fixtures every benchmark starts from, without the harness: ordo-one's
// suites (for the tables) and the interleaved ratio runner (for the targets)
// share these and the request workload. The per-operation loops are still
// written in each (Benchmarks/*/ and Sources/Ratios/Targets.swift).

/// A reference-type value, as a request's user or span would be.
public final class Payload: Sendable {
    /// Which payload this is.
    public let id: Int
    /// A payload numbered `id`.
    public init(_ id: Int) { self.id = id }
}

/// The contexts, trees and dictionaries the benchmarks start from.
public enum Fixture {
    /// The name of key `i`.
    public static func keyName(_ i: Int) -> String { "key-\(i)" }

    /// Keys 0 ..< n.
    public static func keys(_ n: Int) -> [ContextKey<Payload>] {
        (0..<n).map { ContextKey(keyName($0)) }
    }

    /// A context holding `key-0` ... `key-(n-1)`.
    public static func context(_ n: Int) -> TaskContext {
        var context = TaskContext()
        for (i, key) in keys(n).enumerated() { context = try! context.setting(key, Payload(i)) }
        return context
    }

    /// A TreeDictionary holding 0 ..< n.
    public static func tree(_ n: Int) -> TreeDictionary<Int, Payload> {
        var tree = TreeDictionary<Int, Payload>()
        for i in 0..<n { tree[i] = Payload(i) }
        return tree
    }

    /// A Dictionary holding 0 ..< n.
    public static func dictionary(_ n: Int) -> [Int: Payload] {
        var dictionary = [Int: Payload]()
        for i in 0..<n { dictionary[i] = Payload(i) }
        return dictionary
    }

    /// A ServiceContext holding n keys. ServiceContext keys are types, so
    /// key i is a distinct generic type spelled by the bits of i.
    public static func serviceContext(_ n: Int) -> ServiceContext {
        var context = ServiceContext.topLevel
        for i in 0..<n { store(serviceKey(i), Payload(i), into: &context) }
        return context
    }

    /// ServiceContext key number `i`: a distinct type per `i` (see `serviceContext`).
    public static func serviceKey(_ i: Int) -> any PayloadServiceKey.Type {
        func step<Prefix>(_: Prefix.Type, _ level: Int) -> any PayloadServiceKey.Type {
            if level == 18 { return SCKey<Prefix>.self }
            return (i >> level) & 1 == 0
                ? step(Node<Prefix, Bit0>.self, level + 1) : step(Node<Prefix, Bit1>.self, level + 1)
        }
        return step(Void.self, 0)
    }

    static func store<K: PayloadServiceKey>(_ key: K.Type, _ value: Payload, into context: inout ServiceContext) {
        context[key] = value
    }
}

/// A ServiceContext key holding a `Payload`.
public protocol PayloadServiceKey: ServiceContextKey where Value == Payload {}
/// A 0 bit of a key's number, spelled as a type.
public enum Bit0 {}
/// A 1 bit of a key's number, spelled as a type.
public enum Bit1 {}
/// The bits of a key's number so far, then one more.
public enum Node<Prefix, Bit> {}
/// The key whose number the type `Prefix` spells.
public enum SCKey<Prefix>: PayloadServiceKey {
    /// What the key holds.
    public typealias Value = Payload
}

/// The `@TaskLocal` baselines: an Int and a class reference. `object` is
/// optional, the usual shape of a class-typed `@TaskLocal` and the baseline
/// of the targets; `plainObject` is the non-optional shape, shown alongside
/// (ContextStore's own binding is non-optional, which spares Optional's
/// generic value witnesses).
public enum Locals {
    /// An Int.
    @TaskLocal public static var int: Int = 0
    /// A class reference, optional.
    @TaskLocal public static var object: Payload? = nil
    /// A class reference, not optional.
    public static let plainObject = TaskLocal<Payload>(wrappedValue: Payload(0))
}

/// Runs `body` with `depth` other task-local bindings above the caller's.
public func withBindings<R>(_ depth: Int, _ locals: [TaskLocal<Int>], _ body: () -> R) -> R {
    if depth == 0 { return body() }
    return locals[depth - 1].withValue(depth) { withBindings(depth - 1, locals, body) }
}

/// Task-locals to bind above a read (see `withBindings`).
public let otherLocals: [TaskLocal<Int>] = (0..<100).map { _ in TaskLocal<Int>(wrappedValue: 0) }
