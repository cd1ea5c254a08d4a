import Foundation
import Testing

@testable import QueueCLI
@testable import QueueStore

/// What `watch` draws from successive snapshots: the pace it measures and, with a pool, a line
/// per account and why a paused one stopped.
@Suite struct WatchViewTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func status(at seconds: Double, completed: Int, queued: Int, running: Bool = true, accounts: [AccountInfo] = []) -> QueueStatus {
        var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
        counts[.completed] = completed
        counts[.queued] = queued
        counts[.processing] = 2
        return QueueStatus(
            counts: counts,
            oldestQueuedAt: nil,
            creditsUsed: 0,
            daemon: nil,
            daemonRunning: running,
            at: t0.addingTimeInterval(seconds),
            accounts: accounts
        )
    }

    static func account(_ name: String, inFlight: Int, paused: String? = nil) -> AccountInfo {
        var account = AccountInfo(name: name, concurrency: 7, rate: 5)
        account.inFlight = inFlight
        account.pausedReason = paused
        return account
    }

    @Test func thePaceAndTheTimeLeftComeFromTheLastMinute() {
        var view = WatchView()
        #expect(view.render(Self.status(at: 0, completed: 0, queued: 20)).contains { $0.contains("measuring") })
        let lines = view.render(Self.status(at: 10, completed: 10, queued: 10))
        #expect(lines[0].hasSuffix("10/22"), "\(lines)")
        #expect(lines[1] == "queued 10  in flight 2  completed 10  failed 0", "\(lines)")
        #expect(lines[2] == "rate 1.00 jobs/s  ETA 12.0s", "12 left at one a second: \(lines)")
        // In a pipe, a line only when something changed: the pace moves with the clock alone.
        let later = view.render(Self.status(at: 14, completed: 10, queued: 10))
        #expect(later[2] != lines[2] && WatchView.withoutPace(later) == WatchView.withoutPace(lines), "\(later)")
    }

    @Test func aPoolShowsEachAccountAndWhyOneIsPaused() {
        var view = WatchView()
        let pool = [Self.account("a", inFlight: 2), Self.account("b", inFlight: 0, paused: "out of credit (402): top up account b")]
        let lines = view.render(Self.status(at: 0, completed: 0, queued: 5, accounts: pool))
        #expect(lines.contains("accounts a 2/7  b 0/7 paused"), "\(lines)")
        #expect(lines.contains("  b PAUSED: out of credit (402): top up account b"), "\(lines)")

        // One key's `default` alone is not worth a line; nor are accounts of a daemon not running.
        var alone = WatchView()
        #expect(
            !alone.render(Self.status(at: 0, completed: 0, queued: 5, accounts: [Self.account("default", inFlight: 2)])).contains {
                $0.hasPrefix("accounts")
            }
        )
        var notRunning = WatchView()
        let stopped = notRunning.render(Self.status(at: 0, completed: 0, queued: 5, running: false, accounts: pool))
        #expect(!stopped.contains { $0.hasPrefix("accounts") || $0.contains("PAUSED") }, "\(stopped)")
        #expect(stopped.contains("daemon not running: start it with `legnext-queue run`"))
    }
}
