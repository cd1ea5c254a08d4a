import Foundation
import Logging
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Says the queue's counts in the log and in systemd's status line whenever they change (looked
/// at every `interval`), until graceful shutdown.
struct ProgressReporter: Service {
    let store: QueueStore
    let interval: TimeInterval
    let logger: Logger
    var notifier: SystemdNotifier?
    let diskAlarm: DiskAlarm
    var clock: any QueueClock = WallClock()

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var last = ""
            var first = true
            while !Task.isCancelled {
                if !first { try? await clock.sleep(until: clock.now().addingTimeInterval(interval)) }
                first = false
                let status: QueueStatus
                do {
                    status = try store.status()
                } catch {
                    logger.warning("progress: cannot read the counts: \(error)")
                    continue
                }
                var line = Self.summary(status)
                if let problem = diskAlarm.current { line += "; DISK FULL: \(problem)" }
                if line != last {
                    logger.info("progress: \(line)")
                    notifier?.status(line)
                    last = line
                }
            }
        }
    }

    /// One line for the log and for `systemctl status`.
    static func summary(_ status: QueueStatus) -> String {
        var line =
            "\(status.counts[.queued] ?? 0) queued, \(status.inFlight) in flight, \(status.counts[.completed] ?? 0) completed, \(status.counts[.failed] ?? 0) failed"
        if let uncertain = status.counts[.uncertain], uncertain > 0 { line += ", \(uncertain) uncertain" }
        if let reason = status.daemon?.pausedReason { line += "; paused: \(reason)" }
        return line
    }
}
