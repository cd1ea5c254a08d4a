import Foundation
import GRDB
import QueueSupport

/// What settling an uncertain job by looking at Legnext's running jobs needs of the queue.
extension QueueStore {
    /// The uncertain jobs, each with when it was last claimed (its latest step to `submitting`;
    /// its POST left at or after that). A row that cannot be read is left to a person.
    public func uncertainJobs() async throws(StoreError) -> [(job: Job, claimedAt: Date)] {
        try await read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT j.*, (SELECT e.at FROM job_events AS e WHERE e.job_id = j.id AND e.to_state = 'submitting'
                                 ORDER BY e.id DESC LIMIT 1) AS claimed_at
                    FROM jobs AS j WHERE j.state = 'uncertain'
                    """
            )
            guard let first = rows.first else { return [] }
            let columns = Job.Columns(first)
            return rows.compactMap { row in
                guard let job = try? Job(row: row, columns: columns), let claimed = (row["claimed_at"] as String?).flatMap(Timestamp.parse)
                else { return nil }
                return (job, claimed)
            }
        }
    }

    /// The slowest answer to a submission among the last `limit` accepted ones: from the claim
    /// (its `submitting` event) to the moment Legnext's id was recorded. Nil with none yet.
    public func slowestRecentSubmission(limit: Int = 200) async throws(StoreError) -> TimeInterval? {
        try await read { db in
            try Double.fetchOne(
                db,
                sql: """
                    SELECT max((julianday(j.submitted_at) - julianday(
                        (SELECT max(e.at) FROM job_events AS e WHERE e.job_id = j.id AND e.to_state = 'submitting' AND e.at <= j.submitted_at)
                    )) * 86400)
                    FROM (SELECT id, submitted_at FROM jobs WHERE submitted_at IS NOT NULL ORDER BY id DESC LIMIT ?) AS j
                    """,
                arguments: [limit]
            )
        }
    }

    /// Which of `remoteJobIds` a row of this queue holds.
    public func heldRemoteIds(_ remoteJobIds: [String]) async throws(StoreError) -> Set<String> {
        guard !remoteJobIds.isEmpty else { return [] }
        return try await read { db in
            Set(
                try String.fetchAll(
                    db,
                    sql: Self.heldRemoteIdsSQL,
                    arguments: [Self.jsonArray(remoteJobIds)]
                )
            )
        }
    }

    static let heldRemoteIdsSQL = "SELECT remote_job_id FROM jobs WHERE remote_job_id IN (SELECT value FROM json_each(?))"

    /// An uncertain job whose submission provably created nothing goes back to the queue, to be
    /// sent again; `evidence` (why it provably created nothing) is its reason and its event.
    /// False if it was no longer uncertain.
    public func resendUncertain(id: Int64, evidence: String, now: Date) async throws(StoreError) -> Bool {
        let at = stamp(now)
        return try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = 'queued', reason = ?1, error = NULL, error_detail = NULL, run_after = NULL, remote_account = NULL,
                        finished_at = NULL, updated_at = ?2
                    WHERE id = ?3 AND state = 'uncertain'
                    """,
                arguments: [evidence, at, id]
            )
            return db.changesCount > 0
        }
    }

    static func jsonArray(_ texts: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (index, text) in texts.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONOutput.appendString(text, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
