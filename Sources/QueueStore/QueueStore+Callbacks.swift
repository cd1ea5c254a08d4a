import Foundation
import GRDB
import QueueSupport

/// What a callback needs to know about the job its URL names.
public struct CallbackTarget: Sendable, Hashable {
    public var id: Int64
    public var state: JobState
    public var token: String?
    public var remoteJobId: String?
    public var kind: String
}

extension QueueStore {
    /// The job a callback URL names, or nil if there is none.
    public func callbackTarget(id: Int64) async throws(StoreError) -> CallbackTarget? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, state, callback_token, remote_job_id, kind FROM jobs WHERE id = ?"),
                arguments: [id]
            ).flatMap { row -> CallbackTarget? in
                // A row that cannot be read is no target: the callback is refused, the job untouched.
                let r = RowReader(row)
                do {
                    guard let state = JobState(rawValue: try r.requiredText(1, "state")) else { return nil }
                    return CallbackTarget(
                        id: id,
                        state: state,
                        token: try r.text(2, "callback_token"),
                        remoteJobId: try r.text(3, "remote_job_id"),
                        kind: try r.requiredText(4, "kind")
                    )
                } catch {
                    return nil
                }
            }
        }
    }

    /// Settles an `uncertain` job whose remote job was found after all (a callback named it and
    /// a GET with our key confirmed it): it takes the remote id and is followed like any other.
    /// Returns false if the job was no longer uncertain.
    public func adoptRemote(id: Int64, remoteJobId: String, status: String, nextPollAt: Date, now: Date) async throws(StoreError) -> Bool {
        let at = stamp(now)
        let state = ["pending", "staged", "processing"].contains(status) ? status : "pending"
        return try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = ?1, remote_job_id = ?2, remote_status = ?1, submitted_at = coalesce(submitted_at, ?3),
                        progress_at = ?3, next_poll_at = ?4, requests = requests + 1, error = NULL, finished_at = NULL, updated_at = ?3,
                        reason = 'settled: a callback named Legnext job ' || ?2 || ' and a GET confirmed it'
                    WHERE id = ?5 AND state = 'uncertain'
                    """,
                arguments: [state, remoteJobId, at, Timestamp.format(nextPollAt), id]
            )
            return db.changesCount > 0
        }
    }
}
