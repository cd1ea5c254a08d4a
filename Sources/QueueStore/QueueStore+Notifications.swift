import Foundation
import GRDB
import QueueSupport

extension QueueStore {
    /// Pending notifications of `channel` due by `now`, oldest first.
    public func dueNotifications(channel: JobNotification.Channel, now: Date, limit: Int) async throws(StoreError) -> [JobNotification] {
        let at = stamp(now)
        return try await read { db in
            try JobNotification.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM notifications WHERE state = 'pending' AND channel = ? AND next_attempt_at <= ?
                        ORDER BY next_attempt_at, id LIMIT ?
                        """
                ),
                arguments: [channel.rawValue, at, limit]
            )
        }
    }

    /// When the next pending notification of `channel` falls due after `now`, if any.
    public func nextNotificationTime(channel: JobNotification.Channel, after now: Date) async throws(StoreError) -> Date? {
        let at = stamp(now)
        return try await read { db in
            try String.fetchOne(
                db.cachedStatement(
                    sql: "SELECT min(next_attempt_at) FROM notifications WHERE state = 'pending' AND channel = ? AND next_attempt_at > ?"
                ),
                arguments: [channel.rawValue, at]
            ).flatMap(Timestamp.parse)
        }
    }

    public func notificationDelivered(_ id: Int64, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE notifications SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL
                    WHERE id = ? AND state = 'pending'
                    """,
                arguments: [at, id]
            )
        }
    }

    /// A failed attempt: tried again at `retryAt`, or given up (`retryAt` nil).
    public func notificationFailed(_ id: Int64, error: String, retryAt: Date?) async throws(StoreError) {
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE notifications SET attempts = attempts + 1, last_error = ?1,
                        state = CASE WHEN ?2 IS NULL THEN 'failed' ELSE 'pending' END, next_attempt_at = coalesce(?2, next_attempt_at)
                    WHERE id = ?3 AND state = 'pending'
                    """,
                arguments: [error, retryAt.map(Timestamp.format), id]
            )
        }
    }

    /// Puts a notification off until `time` without counting an attempt (its job's downloads
    /// are not finished yet).
    public func postponeNotification(_ id: Int64, until time: Date) async throws(StoreError) {
        try await write { db in
            try db.executeCached(
                sql: "UPDATE notifications SET next_attempt_at = ? WHERE id = ? AND state = 'pending'",
                arguments: [Timestamp.format(time), id]
            )
        }
    }
}
