import Foundation

/// Where the daemon's parts (engine, downloader, outboxes) get "now" and how they wait: the
/// system's clock in production, a clock a test drives by hand otherwise. Wall time, because
/// the database stores wall times.
public protocol QueueClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (at once if it has passed); throws when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The system's wall clock; waits use the monotonic clock so a jump of the wall clock cannot
/// stretch a wait beyond the interval asked for.
public struct WallClock: QueueClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        guard interval > 0 else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: .milliseconds(Int64((interval * 1000).rounded(.up))))
    }
}

extension QueueClock {
    /// Returns at the next signal of `signal` or at `deadline`, whichever comes first.
    public func wait(for signal: Wakeup, until deadline: Date) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.sleep(until: deadline) }
            group.addTask { await signal.wait() }
            await group.next()
            group.cancelAll()
        }
    }
}
