import Foundation

/// One process-wide async lock for test code that depends on the global
/// store being left alone.
///
/// `swift test` runs every test target in one process, and Swift Testing
/// runs suites of different targets at the same time. `ContextStoreTests`
/// is serialised within itself, but its statistics test compares the
/// global store's live figures exactly, so a test of another target that
/// opens a scope meanwhile would change them. That test and every suite of
/// the integration targets hold this lock, so they never overlap.
///
/// ```swift
/// try await GlobalStoreLock.withLock { try await body() }
/// ```
public enum GlobalStoreLock {
    private static let mutex = AsyncMutex()

    /// Runs `body` holding the lock; waits (suspending, not blocking a
    /// thread) while another holder runs.
    public static func withLock<R>(_ body: () async throws -> R) async rethrows -> R {
        await mutex.lock()
        defer { mutex.unlock() }
        return try await body()
    }
}

/// A FIFO mutex whose waiters suspend.
final class AsyncMutex: @unchecked Sendable {
    // Safe: `locked` and `waiters` are only touched under `guardLock`. An
    // `NSLock` (a pthread mutex), which ThreadSanitizer can see.
    private let guardLock = NSLock()
    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            guardLock.lock()
            if locked {
                waiters.append(continuation)
                guardLock.unlock()
            } else {
                locked = true
                guardLock.unlock()
                continuation.resume()
            }
        }
    }

    /// Hands the lock to the oldest waiter, or frees it.
    func unlock() {
        guardLock.lock()
        let next = waiters.isEmpty ? nil : waiters.removeFirst()
        if next == nil { locked = false }
        guardLock.unlock()
        next?.resume()
    }
}
