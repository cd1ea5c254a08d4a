import Foundation
import GRDB
import QueueSupport

extension QueueStore {
    /// Counts per state, oldest queued job, credits used and the daemon row.
    public func status() throws(StoreError) -> QueueStatus {
        let at = now()
        var status = try read { db in
            let counts = try Self.stateCounts(db)
            let oldest = try String.fetchOne(
                db,
                sql: "SELECT created_at FROM jobs WHERE id = (SELECT min(id) FROM jobs WHERE state = 'queued')"
            )
            let credits = try Int.fetchOne(db, sql: "SELECT credits_used FROM totals WHERE id = 1") ?? 0
            let daemon = try DaemonInfo.fetchOne(db, sql: "SELECT * FROM daemon WHERE id = 1")
            return QueueStatus(
                counts: counts,
                oldestQueuedAt: oldest.flatMap(Timestamp.parse),
                creditsUsed: credits,
                daemon: daemon,
                daemonRunning: false,
                at: at
            )
        }
        status.daemonRunning = DaemonLock.isHeld(path: path)
        return status
    }

    /// Jobs newest first, optionally of one state and/or one tag.
    public func list(state: JobState? = nil, tag: String? = nil, limit: Int = 20) throws(StoreError) -> [Job] {
        try read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let state {
                clauses.append("state = ?")
                arguments += [state.rawValue]
            }
            if let tag {
                clauses.append("tag = ?")
                arguments += [tag]
            }
            let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [limit]
            return try Job.fetchAll(db, sql: "SELECT * FROM jobs \(whereClause) ORDER BY id DESC LIMIT ?", arguments: arguments)
        }
    }

    /// One job, or nil.
    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try read { db in try Job.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) }
    }

    /// A job with its events (oldest first), outputs and notifications.
    public func detail(_ id: Int64) throws(StoreError) -> JobDetail {
        let detail = try read { db -> JobDetail? in
            guard let job = try Job.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) else { return nil }
            let events = try JobEvent.fetchAll(db, sql: "SELECT * FROM job_events WHERE job_id = ? ORDER BY id", arguments: [id])
            let outputs = try JobOutput.fetchAll(
                db,
                sql: "SELECT * FROM job_outputs WHERE job_id = ? ORDER BY CASE kind WHEN 'grid' THEN 0 ELSE 1 END, kind, idx",
                arguments: [id]
            )
            let notifications = try JobNotification.fetchAll(db, sql: "SELECT * FROM notifications WHERE job_id = ? ORDER BY id", arguments: [id])
            return JobDetail(job: job, events: events, outputs: outputs, notifications: notifications)
        }
        guard let detail else { throw .noSuchJob(id) }
        return detail
    }

    /// Ids among `ids` that exist.
    public func existingIds(_ ids: [Int64]) throws(StoreError) -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return try read { db in
            Set(
                try Int64.fetchAll(
                    db,
                    sql: "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
                    arguments: [
                        "[" + ids.map(String.init).joined(separator: ",") + "]"
                    ]
                )
            )
        }
    }
}
