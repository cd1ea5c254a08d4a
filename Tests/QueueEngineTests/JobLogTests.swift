import Logging
import QueueTestSupport
import Testing

@testable import QueueEngine

/// A job's log lines carry its ids, and lines under the level cost nothing to skip.
@Suite struct JobLogTests {
    struct Capture: LogHandler {
        let lines: Box<[(Logger.Level, String, Logger.Metadata)]>
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.withLock { $0.append((event.level, "\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })) }
        }
    }

    @Test func linesCarryTheJobAndRemoteIds() {
        let lines = Box<[(Logger.Level, String, Logger.Metadata)]>([])
        let logger = Logger(label: "engine") { _ in Capture(lines: lines) }
        var log = JobLog(logger, id: 12)
        log.warning("refused")
        log.remoteId = "abc-1"
        log.error("lost")
        var evaluated = false
        log.info("\(Self.mark(&evaluated))")
        let seen = lines.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen[0].1 == "refused" && seen[0].2 == ["lnq.job.id": "12"])
        #expect(seen[1].1 == "lost" && seen[1].2 == ["lnq.job.id": "12", "lnq.remote.id": "abc-1"])
        #expect(!evaluated, "an info line under a warning level is never built")
    }

    static func mark(_ flag: inout Bool) -> String {
        flag = true
        return "built"
    }
}
