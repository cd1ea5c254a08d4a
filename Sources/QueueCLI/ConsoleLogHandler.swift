import Foundation
import Logging
import Synchronization

/// Log lines for people: `2026-11-26T19:45:12.345Z info  job 12 submitted … [lnq.job.id=12]`.
/// Under systemd (`JOURNAL_STREAM` set) the time is left to the journal and each line starts
/// with its syslog priority (`<3>`), so levels survive into `journalctl -p`.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let journal: Bool
    private static let output = Mutex(())

    public init(label: String, level: Logger.Level, journal: Bool) {
        self.label = label
        self.logLevel = level
        self.journal = journal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = ""
        if journal {
            line = "<\(Self.syslogPriority(event.level))>"
        } else {
            line = Self.timestamp() + " " + event.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        }
        line += event.message.description
        if !merged.isEmpty {
            line += " [" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        }
        line += "\n"
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            now.tv_nsec / 1_000_000
        )
    }

    /// Installs this handler for the whole process (once, at start-up).
    public static func bootstrap(level: Logger.Level) {
        let journal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label, level: level, journal: journal) }
    }
}
