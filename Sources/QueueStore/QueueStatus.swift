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

    public init(row: Row) throws {
        let r = RowReader(row)
        self.init(
            pid: Int32(clamping: try r.requiredInt("pid")),
            hostname: try r.requiredText("hostname"),
            version: try r.requiredText("version"),
            baseURL: try r.requiredText("base_url"),
            concurrency: Int(try r.requiredInt("concurrency")),
            rate: try r.double("rate") ?? 0,
            startedAt: try r.date("started_at") ?? Date(timeIntervalSince1970: 0),
            heartbeatAt: try r.date("heartbeat_at") ?? Date(timeIntervalSince1970: 0),
            stoppedAt: try r.date("stopped_at"),
            pausedReason: try r.text("paused_reason"),
            pausedSince: try r.date("paused_since"),
            inFlight: Int(try r.int("in_flight") ?? 0),
            currentRate: try r.double("current_rate")
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
    /// The accounts the daemon was last started with.
    public var accounts: [AccountInfo] = []
    /// Queued jobs pinned to each account that has any.
    public var pinned: [String: Int] = [:]
    /// Whether the accounts are worth showing: several, or one named (not the one key's `default`).
    public var showsAccounts: Bool {
        accounts.count > 1 || accounts.contains { $0.name != AccountRoute.defaultName }
    }
    /// Jobs in flight or uncertain sent with an account the daemon's last start left out (no
    /// account follows them until one runs it again), by account.
    public var unfollowed: [String: Int] = [:]

    public var inFlight: Int { JobState.inFlightStates.reduce(0) { $0 + (counts[$1] ?? 0) } }
    public var total: Int { counts.values.reduce(0, +) }
}
