import Foundation
import QueueStore

/// What `watch` shows, built from successive `status` snapshots: counts, a progress bar, the
/// finishing rate over the last minute, an ETA and the pause reason.
struct WatchView {
    private var samples: [(at: Date, finished: Int)] = []
    let window: TimeInterval = 60

    /// Jobs that reached an end (completed, failed, cancelled or uncertain).
    static func finished(_ status: QueueStatus) -> Int {
        [JobState.completed, .failed, .cancelled, .uncertain].reduce(0) { $0 + (status.counts[$1] ?? 0) }
    }

    /// `lines` without the pace (rate and ETA), which moves with the clock alone.
    static func withoutPace(_ lines: [String]) -> [String] {
        lines.filter { !$0.hasPrefix(pacePrefix) }
    }

    private static let pacePrefix = "rate "

    /// Records `status` and returns the lines to show; `width` bounds the progress bar.
    mutating func render(_ status: QueueStatus, width: Int = 80) -> [String] {
        let finished = Self.finished(status)
        samples.append((status.at, finished))
        samples.removeAll { status.at.timeIntervalSince($0.at) > window }
        if let first = samples.first, first.finished > finished { samples = [(status.at, finished)] }  // the queue was emptied
        let total = status.counts.values.reduce(0, +)
        let remaining = total - finished
        var rate: Double?
        if let first = samples.first, status.at.timeIntervalSince(first.at) >= 2 {
            rate = Double(finished - first.finished) / status.at.timeIntervalSince(first.at)
        }

        let share = total == 0 ? 1 : Double(finished) / Double(total)
        let barWidth = max(10, min(50, width - 30))
        let filled = Int((share * Double(barWidth)).rounded(.down))
        var lines: [String] = []
        lines.append(
            "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "] "
                + String(format: "%5.1f%%", share * 100) + "  \(finished)/\(total)"
        )
        let count = { (state: JobState) in status.counts[state] ?? 0 }
        lines.append(
            "queued \(count(.queued))  in flight \(status.inFlight)  completed \(count(.completed))  failed \(count(.failed))"
                + (count(.uncertain) > 0 ? "  uncertain \(count(.uncertain))" : "")
                + (count(.cancelled) > 0 ? "  cancelled \(count(.cancelled))" : "")
        )
        var pace = Self.pacePrefix + (rate.map { String(format: "%.2f jobs/s", $0) } ?? "measuring…")
        if remaining == 0 {
            pace += "  nothing left to do"
        } else if let rate, rate > 0 {
            pace += "  ETA " + TimeSpec.age(Double(remaining) / rate)
        } else if rate != nil {
            pace += "  ETA unknown (nothing finished in the last minute)"
        }
        lines.append(pace)
        if !status.daemonRunning {
            lines.append("daemon not running: start it with `legnext-queue run`")
        } else if let reason = status.daemon?.pausedReason {
            lines.append("PAUSED: \(reason)")
        }
        if status.daemonRunning, status.showsAccounts {
            lines.append(
                "accounts "
                    + status.accounts.map { "\($0.name) \($0.inFlight)/\($0.concurrency)\($0.pausedReason == nil ? "" : " paused")" }.joined(
                        separator: "  "
                    )
            )
            for account in status.accounts { if let reason = account.pausedReason { lines.append("  \(account.name) PAUSED: \(reason)") } }
        }
        return lines
    }
}
