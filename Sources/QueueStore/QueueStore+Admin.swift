import Foundation
import GRDB

/// What a person's `cancel` or `retry` did to one job.
public enum AdminOutcome: Sendable, Hashable {
    /// Done; the job was in `from` before.
    case done(from: JobState)
    /// No such job.
    case notFound
    /// Not possible in the job's state; the message says why and what to do instead.
    case refused(String)
}

extension QueueStore {
    /// Cancels queued jobs (and uncertain ones, which a person may settle this way). With
    /// `force`, a job Legnext has (submitting, pending, staged, processing) is settled here too:
    /// the daemon stops following it, and Legnext may still run it and charge for it.
    public func cancel(_ ids: [Int64], force: Bool = false) throws(StoreError) -> [(id: Int64, outcome: AdminOutcome)] {
        let at = stamp()
        return try write { db in
            try Self.eachJob(ids, db) { id, state in
                switch state {
                case .queued, .uncertain:
                    try Self.cancel(id: id, reason: "cancelled by a person", at: at, db)
                    return .done(from: state)
                case .cancelled:
                    return .refused("job \(id) is already cancelled")
                case .completed, .failed:
                    return .refused("job \(id) has already \(state.rawValue); nothing to cancel")
                case .submitting, .pending, .staged, .processing:
                    guard force else {
                        return .refused(
                            "job \(id) is \(state.rawValue) at Legnext and cannot be called back; `cancel --force \(id)` stops following it (Legnext may still run and charge it)"
                        )
                    }
                    try Self.cancel(
                        id: id,
                        reason: "cancelled by a person while \(state.rawValue) (--force): Legnext may still run it and charge for it",
                        at: at,
                        db
                    )
                    return .done(from: state)
                }
            }
        }
    }

    private static func cancel(id: Int64, reason: String, at: String, _ db: Database) throws {
        try db.execute(
            sql: "UPDATE jobs SET state = 'cancelled', reason = ?, next_poll_at = NULL, finished_at = ?, updated_at = ? WHERE id = ?",
            arguments: [reason, at, at, id]
        )
    }

    /// The ids of the jobs in `states` that match every filter given, oldest first.
    public func ids(states: [JobState], tag: String? = nil, kind: String? = nil) throws(StoreError) -> [Int64] {
        guard !states.isEmpty else { return [] }
        return try read { db in
            var sql = "SELECT id FROM jobs WHERE state IN (SELECT value FROM json_each(?))"
            var arguments: StatementArguments = ["[" + states.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"]
            if let tag {
                sql += " AND tag = ?"
                arguments += [tag]
            }
            if let kind {
                sql += " AND kind = ?"
                arguments += [kind]
            }
            return try Int64.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments)
        }
    }

    /// Puts failed, uncertain or cancelled jobs back in the queue with their attempts reset.
    /// The old error stays in `job_events`.
    public func retry(_ ids: [Int64]) throws(StoreError) -> [(id: Int64, outcome: AdminOutcome)] {
        let at = stamp()
        return try write { db in
            try Self.eachJob(ids, db) { id, state in
                switch state {
                case .failed, .uncertain, .cancelled:
                    do {
                        try Self.requeue(id: id, at: at, db)
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        // A row that breaks a rule (one failed as unreadable) stays put; the others go on.
                        let rule = error.brokenRule
                        return .refused("job \(id) breaks the rule \"\(rule)\"; mend the row with sqlite3, or enqueue the job anew")
                    }
                    return .done(from: state)
                case .completed:
                    return .refused("job \(id) completed; retrying would pay again: enqueue a new job instead")
                case .queued:
                    return .refused("job \(id) is already queued")
                case .submitting, .pending, .staged, .processing:
                    return .refused("job \(id) is \(state.rawValue); only failed, uncertain or cancelled jobs can be retried")
                }
            }
        }
    }

    /// Runs `body` on each job that exists and whose state can be read; the others are
    /// `notFound`, or refused with the reason.
    private static func eachJob(
        _ ids: [Int64],
        _ db: Database,
        _ body: (Int64, JobState) throws -> AdminOutcome
    ) throws -> [(id: Int64, outcome: AdminOutcome)] {
        try ids.map { id in
            do {
                guard let state = try state(of: id, db) else { return (id, .notFound) }
                return (id, try body(id, state))
            } catch let error as RowReadError {
                return (id, .refused(error.description))
            }
        }
    }

    /// The job's state; nil when there is no such job. A state that is not one of the machine's
    /// is an error that says so (the daemon fails such a row when it starts).
    static func state(of id: Int64, _ db: Database) throws -> JobState? {
        guard let row = try Row.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id]) else { return nil }
        let value = (row[0] as DatabaseValue).storage
        guard case .string(let text) = value, let state = JobState(rawValue: text) else {
            throw RowReadError("job \(id)'s state is \(RowReader.describe(value)), not one legnext-queue knows; the daemon fails it when it starts")
        }
        return state
    }

    private static func requeue(id: Int64, at: String, _ db: Database) throws {
        try db.execute(
            sql: """
                UPDATE jobs SET
                    state = 'queued',
                    reason = 'retry requested (was ' || state || coalesce(': ' || error, ': ' || reason, '') || ')',
                    attempts = 0, run_after = NULL, remote_job_id = NULL, remote_account = NULL, remote_status = NULL, next_poll_at = NULL,
                    progress_at = NULL, error = NULL, error_detail = NULL, output = NULL, submitted_at = NULL,
                    finished_at = NULL, updated_at = ?
                WHERE id = ?
                """,
            arguments: [at, id]
        )
    }
}
