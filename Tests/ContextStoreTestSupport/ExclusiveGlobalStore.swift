import Testing

/// A trait that runs a suite (as a whole) or a test while holding
/// ``GlobalStoreLock``.
///
/// ```swift
/// @Suite(.exclusiveGlobalStore) struct LoggingTests { ... }
/// ```
public struct ExclusiveGlobalStore: SuiteTrait, TestTrait, TestScoping {
    /// Once around the whole suite, not around each of its tests.
    public var isRecursive: Bool { false }

    /// Runs `function` (the suite or the test) holding ``GlobalStoreLock``.
    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        try await GlobalStoreLock.withLock { try await function() }
    }
}

extension Trait where Self == ExclusiveGlobalStore {
    /// Runs the suite or test holding ``GlobalStoreLock``.
    public static var exclusiveGlobalStore: Self { ExclusiveGlobalStore() }
}
