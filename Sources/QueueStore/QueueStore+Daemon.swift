import Foundation
import GRDB
import QueueSupport

extension QueueStore {
    /// Records the starting daemon in the `daemon` row.
    ///
    /// `notifyChannels` (`webhook`, `command`) are the deliveries wanted when a job ends; the
    /// outbox trigger reads them from this row.
    public func registerDaemon(_ info: DaemonInfo, notifyChannels: [String] = []) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO daemon (id, pid, hostname, version, base_url, concurrency, rate, started_at, heartbeat_at,
                        stopped_at, paused_reason, paused_since, in_flight, current_rate, notify_channels)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, ?, ?)
                    """,
                arguments: [
                    info.pid, info.hostname, info.version, info.baseURL, info.concurrency, info.rate,
                    Timestamp.format(info.startedAt), Timestamp.format(info.heartbeatAt), info.currentRate,
                    notifyChannels.joined(separator: ","),
                ]
            )
        }
    }

    /// The daemon is alive: its in-flight count, current rate and pause reason.
    public func heartbeat(now: Date, inFlight: Int, currentRate: Double?, pausedReason: String?, pausedSince: Date?) async throws(StoreError) {
        try await write { db in
            try Self.foldCounts(db)
            try db.executeCached(
                sql: """
                    UPDATE daemon SET heartbeat_at = ?, in_flight = ?, current_rate = ?, paused_reason = ?, paused_since = ?
                    WHERE id = 1
                    """,
                arguments: [Timestamp.format(now), inFlight, currentRate, pausedReason, pausedSince.map(Timestamp.format)]
            )
        }
    }

    /// The daemon stopped cleanly.
    public func markDaemonStopped(now: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE daemon SET stopped_at = ?1, heartbeat_at = ?1, in_flight = 0, paused_reason = NULL, paused_since = NULL WHERE id = 1",
                arguments: [Timestamp.format(now)]
            )
        }
    }

    /// One daemon per database *file*, a second claim beside ``DaemonLock``: the daemon row is in
    /// the file itself, so it holds whatever name reaches the file, and if the lock file was
    /// deleted. A row not marked stopped, from this host, naming a live daemon process other than
    /// `pid` (`isDaemon` asks the kernel), means that daemon owns the file: this throws
    /// ``StoreError/daemonRunning(path:pid:)`` before anything else is read or changed. Otherwise
    /// the row is taken for `pid`, in the same transaction.
    public func claimDaemon(pid: Int32, hostname: String, now: Date, isDaemon: @escaping (Int32) -> Bool) throws(StoreError) {
        let path = self.path
        let at = Timestamp.format(now)
        func otherDaemon(_ row: Row) throws(RowReadError) -> Int32? {
            let r = RowReader(row)
            let holder = Int32(clamping: try r.requiredInt(0, "pid"))
            guard holder != pid, try r.requiredText(1, "hostname") == hostname, try r.text(2, "stopped_at") == nil else { return nil }
            return isDaemon(holder) ? holder : nil
        }
        try write { db in
            // A row that cannot be read names no daemon: it is taken over.
            if let row = try Row.fetchOne(db, sql: "SELECT pid, hostname, stopped_at FROM daemon WHERE id = 1"),
                let holder = try? otherDaemon(row)
            {
                throw StoreError.daemonRunning(path: path, pid: holder)
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO daemon (id, pid, hostname, version, base_url, concurrency, rate, started_at, heartbeat_at)
                    VALUES (1, ?, ?, '', '', 0, 0, ?, ?)
                    """,
                arguments: [pid, hostname, at, at]
            )
        }
    }

    /// The pid recorded by the last daemon, for messages.
    public func daemonPid() -> Int32? {
        try? read { db in try Int32.fetchOne(db, sql: "SELECT pid FROM daemon WHERE id = 1") }
    }
}
