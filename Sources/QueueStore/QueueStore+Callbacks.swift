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
    /// The account the job was sent with (nil: before accounts were recorded, or not sent).
    public var remoteAccount: String? = nil
}

extension QueueStore {
    /// The job a callback URL names, or nil if there is none.
    public func callbackTarget(id: Int64) async throws(StoreError) -> CallbackTarget? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, state, callback_token, remote_job_id, kind, remote_account FROM jobs WHERE id = ?"),
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
                        kind: try r.requiredText(4, "kind"),
                        remoteAccount: try r.text(5, "remote_account")
                    )
                } catch {
                    return nil
                }
            }
        }
    }

    /// What an adoption did.
    public enum Adoption: Sendable, Hashable {
        case adopted
        /// The job was no longer uncertain.
        case notUncertain
        /// Another job holds that Legnext id: adopting it would give one paid job two rows.
        case heldBy(Int64)
    }

    /// Settles an `uncertain` job whose remote job was found after all (a callback named it, or
    /// it ran in `active_tasks`, and a GET with our key showed our input): it takes the remote id
    /// and is followed like any other, unless another row holds that id.
    /// `evidence` is the job's reason and event: how the job was found to be ours.
    public func adoptRemote(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        evidence: String,
        nextPollAt: Date,
        now: Date
    ) async throws(StoreError) -> Adoption {
        let at = stamp(now)
        let state = status.runningState
        return try await write { db in
            if let other = try Int64.fetchOne(
                db.cachedStatement(sql: Self.holderSQL),
                arguments: [remoteJobId, id]
            ) {
                return .heldBy(other)
            }
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = ?1, remote_job_id = ?2, remote_status = ?1, submitted_at = coalesce(submitted_at, ?3),
                        progress_at = ?3, next_poll_at = ?4, requests = requests + 1, error = NULL, finished_at = NULL, updated_at = ?3,
                        reason = ?6
                    WHERE id = ?5 AND state = 'uncertain'
                    """,
                arguments: [state, remoteJobId, at, Timestamp.format(nextPollAt), id, evidence]
            )
            return db.changesCount > 0 ? .adopted : .notUncertain
        }
    }

    static let holderSQL = "SELECT id FROM jobs WHERE remote_job_id = ? AND id <> ? LIMIT 1"

    /// An uncertain job's row and its parent's Legnext id: what its lost submission sent, to
    /// compare with a Legnext job's `input` before adopting it. Nil when it is not uncertain.
    public func uncertainSubmission(id: Int64) async throws(StoreError) -> UncertainSubmission? {
        try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM jobs WHERE id = ? AND state = 'uncertain'"), arguments: [id])
            else { return nil }
            let job = try Job(row: row, columns: Job.Columns(row))
            let parent = try job.parentId.flatMap {
                try String.fetchOne(db.cachedStatement(sql: "SELECT remote_job_id FROM jobs WHERE id = ?"), arguments: [$0])
            }
            let claims = try String.fetchAll(
                db.cachedStatement(sql: "SELECT at FROM job_events WHERE job_id = ? AND to_state = 'submitting' ORDER BY id DESC LIMIT 2"),
                arguments: [id]
            )
            .map(Timestamp.parse)
            return UncertainSubmission(
                job: job,
                parentRemoteJobId: parent,
                claimedAt: claims.first ?? nil,
                previousClaimAt: claims.count > 1 ? claims[1] : nil
            )
        }
    }
}

public struct UncertainSubmission: Sendable {
    public var job: Job
    public var parentRemoteJobId: String?
    /// When its last attempt was claimed: its POST left at or after this (nil: no event kept).
    public var claimedAt: Date?
    /// When the attempt before it was claimed, if there was one.
    public var previousClaimAt: Date?

    public init(job: Job, parentRemoteJobId: String?, claimedAt: Date? = nil, previousClaimAt: Date? = nil) {
        self.job = job
        self.parentRemoteJobId = parentRemoteJobId
        self.claimedAt = claimedAt
        self.previousClaimAt = previousClaimAt
    }
}
