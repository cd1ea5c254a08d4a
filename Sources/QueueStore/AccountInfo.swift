import Foundation
import GRDB
import QueueSupport

/// One row of `accounts`: a Legnext account the daemon runs, by name (its key is never stored),
/// with its limits and what its last heartbeat said.
public struct AccountInfo: Sendable, Hashable {
    public var name: String
    /// Jobs in flight at most.
    public var concurrency: Int
    /// The plan's limit, when known (learnt from `active_tasks` or told).
    public var plan: Int?
    /// Requests per second; 0 = unlimited.
    public var rate: Double
    /// Among accounts with room, the higher takes new jobs first.
    public var priority: Int
    /// Whether the daemon's last start ran it.
    public var active = true
    public var inFlight = 0
    public var currentRate: Double?
    public var pausedReason: String?
    public var pausedSince: Date?
    /// Points its jobs used.
    public var creditsUsed = 0
    /// What its last balance check found: points (or credits) and USD available, and when.
    public var balancePoints: Int?
    public var balanceUSD: Double?
    public var balanceAt: Date?

    public init(name: String, concurrency: Int, plan: Int? = nil, rate: Double, priority: Int = 0) {
        self.name = name
        self.concurrency = concurrency
        self.plan = plan
        self.rate = rate
        self.priority = priority
    }

    init(row: Row) throws(RowReadError) {
        let r = RowReader(row)
        self.init(
            name: try r.requiredText(0, "name"),
            concurrency: Int(try r.int(1, "concurrency") ?? 0),
            plan: try r.int(2, "plan").map { Int($0) },
            rate: try r.double(3, "rate") ?? 0,
            priority: Int(try r.int(4, "priority") ?? 0)
        )
        active = try r.int(5, "active") != 0
        inFlight = Int(try r.int(6, "in_flight") ?? 0)
        currentRate = try r.double(7, "current_rate")
        pausedReason = try r.text(8, "paused_reason")
        pausedSince = try r.date(9, "paused_since")
        creditsUsed = Int(try r.int(10, "credits_used") ?? 0)
        balancePoints = try r.int(11, "balance_points").map { Int($0) }
        balanceUSD = try r.double(12, "balance_usd")
        balanceAt = try r.date(13, "balance_at")
    }
}

extension QueueStore {
    public func registerAccounts(_ accounts: [AccountInfo], now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.execute(sql: "UPDATE accounts SET active = 0, in_flight = 0, paused_reason = NULL, paused_since = NULL")
            for (position, account) in accounts.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO accounts (name, position, active, concurrency, plan, rate, priority, updated_at)
                        VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7)
                        ON CONFLICT (name) DO UPDATE SET position = ?2, active = 1, concurrency = ?3, plan = ?4, rate = ?5,
                            priority = ?6, updated_at = ?7
                        """,
                    arguments: [account.name, position, account.concurrency, account.plan, account.rate, account.priority, at]
                )
            }
            try Self.recountPoints(db)
        }
    }

    public func accountHeartbeat(
        _ name: String,
        now: Date,
        inFlight: Int,
        currentRate: Double?,
        pausedReason: String?,
        pausedSince: Date?
    )
        async throws(StoreError)
    {
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE accounts SET updated_at = ?, in_flight = ?, current_rate = ?, paused_reason = ?, paused_since = ?
                    WHERE name = ?
                    """,
                arguments: [Timestamp.format(now), inFlight, currentRate, pausedReason, pausedSince.map(Timestamp.format), name]
            )
        }
    }

    public func recordBalance(_ name: String, points: Int?, usd: Double?, now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE accounts SET balance_points = ?, balance_usd = ?, balance_at = ? WHERE name = ?",
                arguments: [points, usd, Timestamp.format(now), name]
            )
        }
    }

    /// The accounts the daemon last ran with, in their order (then the inactive ones).
    public func accounts(includingInactive: Bool = false) throws(StoreError) -> [AccountInfo] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT name, concurrency, plan, rate, priority, active, in_flight, current_rate, paused_reason, paused_since, credits_used,
                        balance_points, balance_usd, balance_at
                    FROM accounts \(includingInactive ? "" : "WHERE active = 1") ORDER BY active DESC, position
                    """
            )
            return rows.compactMap { try? AccountInfo(row: $0) }
        }
    }
}
