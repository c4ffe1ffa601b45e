import Logging

/// A log handler that does what a real one does with metadata, and then
/// drops the line instead of writing it: it merges the handler's metadata,
/// the provider's and the call's, and formats them, sorted, into the line
/// (`level label: key=value ... message`), as swift-log's StreamLogHandler
/// does. Writing to a file or a pipe would time the operating system.
public struct FormattingLogHandler: LogHandler {
    /// The handler's own metadata, merged first.
    public var metadata: Logger.Metadata = [:]
    /// The provider whose metadata is merged over the handler's.
    public var metadataProvider: Logger.MetadataProvider?
    /// Lines below this level are not logged.
    public var logLevel: Logger.Level = .info
    let label: String

    /// A handler for the logger labelled `label`.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    /// One entry of the handler's own metadata.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Merges and formats the line, then drops it.
    public func log(event: LogEvent) {
        // Merged only when both sides have entries: a dictionary that is
        // taken whole is shared, not copied (as swift-log's own handlers do).
        var all = metadata
        if let provided = metadataProvider?.get() { merge(provided, into: &all) }
        if let explicit = event.metadata { merge(explicit, into: &all) }
        var line = "\(event.level) \(label):"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        line += " \(event.message)"
        sink(line)
    }

    private func merge(_ extra: Logger.Metadata, into all: inout Logger.Metadata) {
        if extra.isEmpty { return }
        if all.isEmpty {
            all = extra
        } else {
            all.merge(extra) { _, new in new }
        }
    }
}
