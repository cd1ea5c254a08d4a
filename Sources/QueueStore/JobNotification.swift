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

    public init(row: Row) throws {
        let r = RowReader(row)
        id = try r.requiredInt("id")
        deliveryId = try r.requiredText("delivery_id")
        jobId = try r.requiredInt("job_id")
        channel = Channel(rawValue: try r.requiredText("channel")) ?? .webhook
        jobState = try r.requiredText("job_state")
        state = try r.requiredText("state")
        attempts = Int(try r.int("attempts") ?? 0)
        nextAttemptAt = try r.date("next_attempt_at")
        lastError = try r.text("last_error")
        createdAt = try r.date("created_at") ?? Date(timeIntervalSince1970: 0)
        deliveredAt = try r.date("delivered_at")
    }
}
