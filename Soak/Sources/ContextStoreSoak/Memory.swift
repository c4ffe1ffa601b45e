import ContextStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One sample of the process's memory.
struct MemorySample: Sendable {
    /// Seconds since the workload started.
    var seconds: Double
    /// Resident set size, bytes (from /proc/self/statm).
    var rss: Int
    var statistics: ContextStatistics
}

/// The resident set size in bytes, or nil where /proc/self/statm is missing.
func residentBytes() -> Int? {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    // "size resident shared text lib data dt", in pages.
    let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
    guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The flat-memory criterion: the largest RSS of the last window may exceed
/// that of the first window by at most 5 % plus 1 MiB. Windows are a
/// minute long, or a third of the run if it is shorter than three minutes,
/// so that they never overlap. Maxima, not means, so that one sample's
/// timing decides nothing. At the default rate (555 scopes a second) the
/// windows' ends are a minute or more apart, so against a process of about
/// 12 MiB a leak of about 50 bytes a scope already fails it.
struct RSSVerdict: CustomStringConvertible {
    var window: Double
    var firstMax: Int
    var lastMax: Int
    var limit: Int
    var samples: Int

    var isFlat: Bool { lastMax <= limit }

    init?(_ samples: [MemorySample], duration: Double) {
        let window = min(60, duration / 3)
        let first = samples.filter { $0.seconds <= window }.map(\.rss)
        let last = samples.filter { $0.seconds >= duration - window }.map(\.rss)
        guard let firstMax = first.max(), let lastMax = last.max() else { return nil }
        self.window = window
        self.firstMax = firstMax
        self.lastMax = lastMax
        self.limit = firstMax + firstMax / 20 + (1 << 20)
        self.samples = samples.count
    }

    var description: String {
        "RSS max, first \(seconds(window)): \(mebibytes(firstMax)); last \(seconds(window)): \(mebibytes(lastMax)); "
            + "limit \(mebibytes(limit)) (first × 1.05 + 1 MiB; \(samples) samples)"
    }
}

func mebibytes(_ bytes: Int) -> String {
    let tenths = (bytes * 10 + (1 << 19)) >> 20
    return "\(tenths / 10).\(tenths % 10) MiB"
}

func seconds(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}
