import ArgumentParser
import Foundation
import QueueStore
import QueueSupport

/// `legnext-queue status`: counts, age of the oldest queued job, credits, and the daemon.
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show counts per state, in-flight jobs, credits used and the daemon's health."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Flag(help: "Print one JSON object.") var json = false

    public init() {}

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            let status = try store.status()
            let free = Self.freeBytes(besides: store.path)
            if json {
                guard case .object(var members) = JobJSON.status(status, path: store.path) else { return }
                members["disk_free_bytes"] = free.map { .int(Int($0)) } ?? .null
                print(JobJSON.render(.object(members)))
            } else {
                var text = Self.text(status, path: store.path)
                if let free, free < Self.nearlyFull {
                    text += "\n\nDISK FULL  \(free / 1024) KiB free where the queue is: the daemon keeps what it learns in memory and waits;"
                    text += " free space (`df \(store.path)`)"
                }
                print(text)
            }
        }
    }

    static func text(_ status: QueueStatus, path: String) -> String {
        var lines = ["queue      \(path)"]
        lines.append("daemon     " + daemonLine(status))
        if let reason = status.daemon?.pausedReason, status.daemonRunning {
            let since = status.daemon?.pausedSince.map { " (for \(TimeSpec.age(status.at.timeIntervalSince($0))))" } ?? ""
            lines.append("           PAUSED\(since): \(reason)")
        }
        lines.append("")
        for state in JobState.allCases {
            var line = state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + String(status.counts[state] ?? 0).leftPad(9)
            if state == .queued, let oldest = status.oldestQueuedAt {
                line += "   oldest \(TimeSpec.age(status.at.timeIntervalSince(oldest)))"
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("in flight  " + String(status.inFlight).leftPad(9))
        lines.append("credits    " + String(status.creditsUsed).leftPad(9) + "   used")
        lines += accountLines(status)
        for (account, count) in status.unfollowed.sorted(by: { $0.key < $1.key }) {
            lines.append(
                "           \(count) job(s) in flight or uncertain were sent with account \(account), which the daemon does not run: they are followed once it runs with --account \(account) again"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// A line per account when the daemon runs several (or named ones): in flight of its limit,
    /// rate, points used, jobs pinned to it, and its pause with what to do.
    static func accountLines(_ status: QueueStatus) -> [String] {
        let accounts = status.accounts
        guard status.showsAccounts else { return [] }
        var lines = ["", "accounts"]
        for account in accounts {
            let limit = account.plan.map { "plan \($0), up to \(account.concurrency)" } ?? "up to \(account.concurrency)"
            var line = "  " + account.name.padding(toLength: 12, withPad: " ", startingAt: 0)
            line += (status.daemonRunning ? "\(account.inFlight) in flight (\(limit))" : "limit \(limit)")
            line += ", rate \(account.rate == 0 ? "unlimited" : formatRate(account.rate) + "/s")"
            if account.priority != 0 { line += ", priority \(account.priority)" }
            line += ", \(account.creditsUsed) points used"
            if let points = account.balancePoints {
                line += ", \(countText(points)) points left\(account.balanceUSD.map { String(format: " ($%.2f)", $0) } ?? "")"
            }
            if let pinned = status.pinned[account.name] { line += ", \(pinned) queued pinned to it" }
            lines.append(line)
            if status.daemonRunning, let reason = account.pausedReason {
                let since = account.pausedSince.map { " (for \(TimeSpec.age(status.at.timeIntervalSince($0))))" } ?? ""
                let pinned = status.pinned[account.name].map { "; its \($0) pinned job(s) wait, the others go to the other accounts" } ?? ""
                lines.append("  \(String(repeating: " ", count: 12))PAUSED\(since): \(reason)\(pinned)")
            }
        }
        let known = Set(accounts.map(\.name))
        for (name, count) in status.pinned.sorted(by: { $0.key < $1.key }) where !known.contains(name) {
            lines.append(
                "  \(name.padding(toLength: 12, withPad: " ", startingAt: 0))not run by the daemon: \(count) queued job(s) pinned to it fail at their claim"
            )
        }
        return lines
    }

    /// Below this, SQLite's next WAL append may not fit.
    static let nearlyFull: UInt64 = 1 << 20

    /// Bytes an unprivileged writer may still use on the filesystem holding `path`.
    static func freeBytes(besides path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    private static func daemonLine(_ status: QueueStatus) -> String {
        guard let daemon = status.daemon else { return status.daemonRunning ? "running (starting up)" : "not running (never started on this queue)" }
        let heartbeat = TimeSpec.age(status.at.timeIntervalSince(daemon.heartbeatAt))
        if status.daemonRunning {
            var line = "running, pid \(daemon.pid) on \(daemon.hostname), heartbeat \(heartbeat) ago, \(daemon.inFlight) in flight"
            line += ", concurrency \(daemon.concurrency), rate \(formatRate(daemon.rate))/s"
            if let current = daemon.currentRate, current < daemon.rate { line += " (slowed to \(formatRate(current))/s)" }
            return line
        }
        if let stopped = daemon.stoppedAt {
            return "not running (stopped \(TimeSpec.age(status.at.timeIntervalSince(stopped))) ago)"
        }
        return "not running (last heartbeat \(heartbeat) ago from pid \(daemon.pid); it did not stop cleanly)"
    }

    private static func formatRate(_ rate: Double) -> String {
        rate.rounded() == rate ? String(Int(rate)) : String(format: "%.2f", rate)
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
    func truncated(_ width: Int) -> String {
        let flat = replacingOccurrences(of: "\n", with: " ")
        return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
    }
}
