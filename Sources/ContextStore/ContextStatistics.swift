/// Counters of the process-wide context store, read by
/// ``TaskContext/statistics``.
///
/// ```swift
/// let before = TaskContext.statistics
/// TaskContext.run { try? TaskContext.set(ContextKey<Int>("n"), 1) }
/// assert(TaskContext.statistics.liveValues == before.liveValues)
/// ```
public struct ContextStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Open context scopes, thread contexts included. Spare scope objects
    /// kept for reuse (see ``spareScopes``) are not counted.
    ///
    /// ```swift
    /// let liveScopes = TaskContext.statistics.liveScopes
    /// ```
    public var liveScopes: Int
    /// Trie nodes held by any context or snapshot.
    ///
    /// ```swift
    /// let liveNodes = TaskContext.statistics.liveNodes
    /// ```
    public var liveNodes: Int
    /// Values held by any context or snapshot.
    ///
    /// ```swift
    /// let liveValues = TaskContext.statistics.liveValues
    /// ```
    public var liveValues: Int
    /// Persistent maps (contexts and snapshots) alive.
    ///
    /// ```swift
    /// let liveRoots = TaskContext.statistics.liveRoots
    /// ```
    public var liveRoots: Int
    /// Distinct key names interned so far; names are kept for the life of the process.
    ///
    /// ```swift
    /// let internedKeys = TaskContext.statistics.internedKeys
    /// ```
    public var internedKeys: Int
    /// Bytes of live store objects.
    ///
    /// ```swift
    /// let bytesInUse = TaskContext.statistics.bytesInUse
    /// ```
    public var bytesInUse: Int
    /// Bytes the store has taken from the system.
    ///
    /// ```swift
    /// let bytesReserved = TaskContext.statistics.bytesReserved
    /// ```
    public var bytesReserved: Int
    /// Ended scopes kept empty for reuse, at most one per thread: the next
    /// `run(inheriting: .copy)` or `run(with:)` on that thread takes it
    /// instead of allocating. They hold no values, and their bytes are not
    /// in ``bytesInUse``.
    ///
    /// ```swift
    /// let spares = TaskContext.statistics.spareScopes
    /// ```
    public var spareScopes: Int

    /// Makes a set of counters; mostly for tests.
    ///
    /// ```swift
    /// let zero = ContextStatistics(liveScopes: 0, liveNodes: 0, liveValues: 0, liveRoots: 0,
    ///                              internedKeys: 0, bytesInUse: 0, bytesReserved: 0)
    /// ```
    public init(
        liveScopes: Int, liveNodes: Int, liveValues: Int, liveRoots: Int,
        internedKeys: Int, bytesInUse: Int, bytesReserved: Int, spareScopes: Int = 0
    ) {
        self.liveScopes = liveScopes
        self.liveNodes = liveNodes
        self.liveValues = liveValues
        self.liveRoots = liveRoots
        self.internedKeys = internedKeys
        self.bytesInUse = bytesInUse
        self.bytesReserved = bytesReserved
        self.spareScopes = spareScopes
    }

    /// The counters on one line.
    ///
    /// ```swift
    /// print(TaskContext.statistics)
    /// ```
    public var description: String {
        "ContextStatistics(liveScopes: \(liveScopes), liveNodes: \(liveNodes), liveValues: \(liveValues), "
            + "liveRoots: \(liveRoots), internedKeys: \(internedKeys), bytesInUse: \(bytesInUse), "
            + "bytesReserved: \(bytesReserved), spareScopes: \(spareScopes))"
    }
}
