import Foundation
import GRDB
import QueueSupport

/// One row of the `notifications` outbox: a job's end, to be told on one channel.
public struct JobNotification: Sendable, Hashable, FetchableRecord {
    public enum Channel: String, Sendable, CaseIterable { case webhook, command }

    public var id: Int64
    /// Stable across retries, so a receiver can drop repeats.
    public var deliveryId: String
    public var jobId: Int64
    public var channel: Channel
    /// The job's state when it ended.
    public var jobState: String
    /// `pending`, `delivered` or `failed`.
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(row: Row) {
        func date(_ column: String) -> Date? { (row[column] as String?).flatMap(Timestamp.parse) }
        id = row["id"]
        deliveryId = row["delivery_id"]
        jobId = row["job_id"]
        channel = Channel(rawValue: row["channel"]) ?? .webhook
        jobState = row["job_state"]
        state = row["state"]
        attempts = row["attempts"]
        nextAttemptAt = date("next_attempt_at")
        lastError = row["last_error"]
        createdAt = date("created_at") ?? Date(timeIntervalSince1970: 0)
        deliveredAt = date("delivered_at")
    }
}
