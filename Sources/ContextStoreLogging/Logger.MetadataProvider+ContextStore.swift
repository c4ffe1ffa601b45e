import ContextStore
import Logging

extension Logger.MetadataProvider {
    /// A metadata provider that adds the chosen context keys to every log
    /// line, read from the context of the task that logs.
    ///
    /// Bootstrap the logging system with it once, and every logger made
    /// afterwards carries the keys:
    ///
    /// ```swift
    /// import ContextStore
    /// import ContextStoreLogging
    /// import Logging
    ///
    /// let requestID = ContextKey<String>("request_id")
    ///
    /// LoggingSystem.bootstrap(StreamLogHandler.standardOutput, metadataProvider: .contextStore(.key(requestID)))
    ///
    /// try await TaskContext.run {
    ///     try TaskContext.set(requestID, "7f0c2b4e")
    ///     Logger(label: "api").info("handling")  // ... request_id=7f0c2b4e handling
    /// }
    /// ```
    ///
    /// Keys absent from the context add nothing; outside any scope the
    /// provider adds nothing. When two keys have the same label, the later
    /// one wins. ``ContextMetadataKey`` says how values become metadata.
    public static func contextStore(_ keys: ContextMetadataKey...) -> Logger.MetadataProvider {
        contextStore(keys)
    }

    /// A metadata provider that adds the chosen context keys to every log
    /// line, read from the context of the task that logs.
    ///
    /// ```swift
    /// let keys: [ContextMetadataKey] = ["request_id", "user_id"]
    /// let logger = Logger(label: "api", metadataProvider: .contextStore(keys))
    /// ```
    ///
    /// The metadata is made once per version of the context (the scope's
    /// contents between two writes) and kept with it, so the lines a
    /// handler logs between two writes share one dictionary. The keys'
    /// transforms therefore run once per version, not once per line (twice
    /// when some label's last key has no value: see `_MetadataTemplate`),
    /// and must be pure functions of the value.
    public static func contextStore(_ keys: [ContextMetadataKey]) -> Logger.MetadataProvider {
        let owner = _ProviderIdentity()
        let template = _MetadataTemplate(keys)
        return Logger.MetadataProvider {
            TaskContext._derived(by: owner) { context in _KeptMetadata(template.metadata(of: context)) }?.metadata
                ?? [:]
        }
    }
}

/// How one provider makes a version's metadata.
private struct _MetadataTemplate: Sendable {
    let keys: [ContextMetadataKey]
    /// Each label and the index in `keys` of the last key with that label.
    let lastIndex: [String: Int]

    init(_ keys: [ContextMetadataKey]) {
        self.keys = keys
        var lastIndex: [String: Int] = [:]
        for (index, key) in keys.enumerated() { lastIndex[key.label] = index }
        self.lastIndex = lastIndex
    }

    /// The keys' metadata in `context`: for each label, the value of the
    /// last key with that label that has one.
    ///
    /// When every label's last key has a value (a server's usual case), the
    /// dictionary is `lastIndex` with its values mapped, which keeps its
    /// hash table: no label is hashed. (perf: filling a dictionary label by
    /// label was a fifth of making a request's metadata.) Otherwise it is
    /// filled key by key, and the keys read before the absent one are read
    /// again: their transforms run twice for this version.
    func metadata(of context: TaskContext) -> Logger.Metadata {
        if let all = try? lastIndex.mapValues({ (index) throws(_Absent) -> Logger.MetadataValue in
            guard let value = keys[index].read(context) else { throw _Absent() }
            return value
        }) {
            return all
        }
        // Sized once: a dictionary that grows while it is filled rehashes.
        var metadata = Logger.Metadata(minimumCapacity: lastIndex.count)
        for key in keys {
            if let value = key.read(context) { metadata[key.label] = value }
        }
        return metadata
    }
}

/// A label's last key has no value.
private struct _Absent: Error {}

/// What tells one provider's metadata, kept with a context, from another's.
private final class _ProviderIdentity: Sendable {}

/// One provider's metadata for one version of a context.
private final class _KeptMetadata: Sendable {
    let metadata: Logger.Metadata
    init(_ metadata: Logger.Metadata) { self.metadata = metadata }
}
