import Logging

/// A log handler that does what a real one does with metadata, and then
/// drops the line instead of writing it: it merges the handler's metadata,
/// the provider's and the call's, and formats them, sorted, into the line
/// (`level label: key=value ... message`), as swift-log's StreamLogHandler
/// does. Writing to a file or a pipe would time the operating system.
public struct FormattingLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

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
