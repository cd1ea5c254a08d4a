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
        status.accounts = try accounts()
        status.pinned = try read { db in
            var pinned: [String: Int] = [:]
            let sql = "SELECT account, count(*) FROM jobs INDEXED BY jobs_pinned WHERE account IS NOT NULL AND state = 'queued' GROUP BY account"
            for row in try Row.fetchAll(db, sql: sql) {
                let r = RowReader(row)
                if let name = try? r.text(0, "account"), let count = try? r.int(1, "count") { pinned[name] = Int(count) }
            }
            return pinned
        }
        let running = Set(status.accounts.map(\.name))
        if !running.isEmpty {
            status.unfollowed = try read { db in
                var unfollowed: [String: Int] = [:]
                let sql = """
                    SELECT coalesce(remote_account, 'default'), count(*) FROM jobs INDEXED BY jobs_state
                    WHERE state IN ('submitting', 'pending', 'staged', 'processing', 'uncertain') GROUP BY 1
                    """
                for row in try Row.fetchAll(db, sql: sql) {
                    let r = RowReader(row)
                    if let name = try? r.text(0, "remote_account"), !running.contains(name), let count = try? r.int(1, "count") {
                        unfollowed[name] = Int(count)
                    }
                }
                return unfollowed
            }
        }
        return status
    }

    /// Jobs newest first, optionally of one state and/or one tag.
    public func list(state: JobState? = nil, tag: String? = nil, limit: Int? = 20) throws(StoreError) -> [Job] {
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
            arguments += [limit ?? -1]
            return try Self.jobsLeniently(db, sql: "SELECT * FROM jobs \(whereClause) ORDER BY id DESC LIMIT ?", arguments: arguments)
        }
    }

    /// How many jobs `list` would show without a limit: the state counters for a state or for
    /// all, the tag index for a tag.
    public func jobCount(state: JobState? = nil, tag: String? = nil) throws(StoreError) -> Int {
        try read { db in
            guard let tag else {
                let counts = try Self.stateCounts(db)
                return state.map { counts[$0] ?? 0 } ?? counts.values.reduce(0, +)
            }
            if let state {
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE tag = ? AND state = ?", arguments: [tag, state.rawValue]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE tag = ?", arguments: [tag]) ?? 0
        }
    }

    /// One job, or nil.
    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try read { db in try Self.jobsLeniently(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).first }
    }

    /// A job with its events (oldest first), outputs and notifications.
    public func detail(_ id: Int64) throws(StoreError) -> JobDetail {
        let detail = try read { db -> JobDetail? in
            guard let job = try Self.jobsLeniently(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).first else { return nil }
            var unreadable: [String] = []
            func rows<T>(_ sql: String, _ what: String, _ decode: (Row) throws -> T) throws -> [T] {
                try Row.fetchAll(db, sql: sql, arguments: [id]).compactMap { row in
                    do { return try decode(row) } catch {
                        unreadable.append("\(what): \(error)")
                        return nil
                    }
                }
            }
            let events = try rows("SELECT * FROM job_events WHERE job_id = ? ORDER BY id", "an event", JobEvent.init(row:))
            let outputs = try rows(
                "SELECT * FROM job_outputs WHERE job_id = ? ORDER BY CASE kind WHEN 'grid' THEN 0 ELSE 1 END, kind, idx",
                "an output",
                JobOutput.init(row:)
            )
            let notifications = try rows("SELECT * FROM notifications WHERE job_id = ? ORDER BY id", "a notification", JobNotification.init(row:))
            return JobDetail(job: job, events: events, outputs: outputs, notifications: notifications, unreadable: unreadable)
        }
        guard let detail else { throw .noSuchJob(id) }
        return detail
    }

    /// The jobs among `ids` that exist, as parents of follow-ups (with their chain of
    /// `extend-video` jobs counted when `countingExtensions`).
    public func parents(_ ids: [Int64], countingExtensions: Bool = false) throws(StoreError) -> [Int64: ParentJob] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, kind, prompt, remote_job_id, state, remote_account FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
                arguments: ["[" + ids.map(String.init).joined(separator: ",") + "]"]
            )
            var parents: [Int64: ParentJob] = [:]
            for row in rows {
                let r = RowReader(row)
                let id = try r.requiredInt(0, "id")
                parents[id] = ParentJob(
                    id: id,
                    kind: try r.text(1, "kind") ?? "",
                    prompt: try r.text(2, "prompt"),
                    remoteJobId: try r.text(3, "remote_job_id"),
                    extensions: countingExtensions ? try Self.extensions(endingAt: id, db) : 0
                )
                if try r.text(4, "state") == JobState.completed.rawValue {
                    parents[id]?.madeOn = AccountRoute.single.owner(try r.text(5, "remote_account"))
                }
            }
            return parents
        }
    }

    /// Jobs for display: a row that cannot be read comes back with ``Job/readError`` set, never
    /// as an error that hides every other row.
    static func jobsLeniently(_ db: Database, sql: String, arguments: StatementArguments) throws -> [Job] {
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        guard let first = rows.first else { return [] }
        let columns = Job.Columns(first)
        return rows.map { Job(leniently: $0, columns: columns) }
    }
}
