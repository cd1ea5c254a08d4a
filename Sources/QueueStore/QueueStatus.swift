import Foundation
import GRDB
import QueueSupport

/// The `daemon` row: what the running (or last) daemon said about itself.
public struct DaemonInfo: Sendable, Hashable, FetchableRecord {
    public var pid: Int32
    public var hostname: String
    public var version: String
    public var baseURL: String
    public var concurrency: Int
    public var rate: Double
    public var startedAt: Date
    public var heartbeatAt: Date
    public var stoppedAt: Date?
    public var pausedReason: String?
    public var pausedSince: Date?
    public var inFlight: Int
    public var currentRate: Double?

    public init(
        pid: Int32,
        hostname: String,
        version: String,
        baseURL: String,
        concurrency: Int,
        rate: Double,
        startedAt: Date,
        heartbeatAt: Date,
        stoppedAt: Date? = nil,
        pausedReason: String? = nil,
        pausedSince: Date? = nil,
        inFlight: Int = 0,
        currentRate: Double? = nil
    ) {
        self.pid = pid
        self.hostname = hostname
        self.version = version
        self.baseURL = baseURL
        self.concurrency = concurrency
        self.rate = rate
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.stoppedAt = stoppedAt
        self.pausedReason = pausedReason
        self.pausedSince = pausedSince
        self.inFlight = inFlight
        self.currentRate = currentRate
    }

    public init(row: Row) {
        func date(_ column: String) -> Date? { (row[column] as String?).flatMap(Timestamp.parse) }
        self.init(
            pid: row["pid"],
            hostname: row["hostname"],
            version: row["version"],
            baseURL: row["base_url"],
            concurrency: row["concurrency"],
            rate: row["rate"],
            startedAt: date("started_at") ?? Date(timeIntervalSince1970: 0),
            heartbeatAt: date("heartbeat_at") ?? Date(timeIntervalSince1970: 0),
            stoppedAt: date("stopped_at"),
            pausedReason: row["paused_reason"],
            pausedSince: date("paused_since"),
            inFlight: row["in_flight"],
            currentRate: row["current_rate"]
        )
    }
}

/// A snapshot of the queue for `status`: O(1) to compute whatever the queue's size.
public struct QueueStatus: Sendable {
    /// Every state, with zero where there is none.
    public var counts: [JobState: Int]
    public var oldestQueuedAt: Date?
    public var creditsUsed: Int
    public var daemon: DaemonInfo?
    /// Whether a live process holds the daemon lock on the file right now.
    public var daemonRunning: Bool
    /// When the snapshot was taken.
    public var at: Date

    public var inFlight: Int { JobState.inFlightStates.reduce(0) { $0 + (counts[$1] ?? 0) } }
    public var total: Int { counts.values.reduce(0, +) }
}
