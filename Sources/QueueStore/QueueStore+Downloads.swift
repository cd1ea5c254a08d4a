import Foundation
import GRDB
import QueueSupport

/// An output waiting to be downloaded.
public struct PendingDownload: Sendable, Hashable {
    public var jobId: Int64
    public var kind: JobOutput.Kind
    public var index: Int
    public var url: String
    public var attempts: Int

    /// Its file's name without the extension, in the numbering `show`, the log and Legnext's
    /// `imageNo` use: `grid`, `image-0` … `image-3`, `video-0`.
    public var fileStem: String { kind == .grid ? "grid" : "\(kind.rawValue)-\(index)" }
}

/// An output row the downloader cannot use as it stands: its key, and why.
private struct UnreadableOutput: Sendable {
    var key: [DatabaseValue]
    var why: String
}

extension QueueStore {
    /// Outputs due for download, oldest first.
    public func dueDownloads(now: Date, limit: Int) async throws(StoreError) -> [PendingDownload] {
        let at = stamp(now)
        let (due, unreadable) = try await read { db -> ([PendingDownload], [UnreadableOutput]) in
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT o.job_id, o.kind, o.idx, o.url, o.download_attempts
                        FROM job_outputs AS o
                        WHERE o.download_state = 'pending' AND o.next_download_at <= ?
                        ORDER BY o.next_download_at LIMIT ?
                        """
                ),
                arguments: [at, limit]
            )
            var due: [PendingDownload] = []
            var unreadable: [UnreadableOutput] = []
            for row in rows {
                let r = RowReader(row)
                do {
                    let kindText = try r.requiredText(1, "kind")
                    guard let url = try r.text(3, "url") else { throw RowReadError("the output is waiting for its download but has no url") }
                    due.append(
                        PendingDownload(
                            jobId: try r.requiredInt(0, "job_id"),
                            kind: JobOutput.Kind(rawValue: kindText) ?? .image,
                            index: Int(try r.requiredInt(2, "idx")),
                            url: url,
                            attempts: Int(try r.int(4, "download_attempts") ?? 0)
                        )
                    )
                } catch {
                    unreadable.append(UnreadableOutput(key: [row[0], row[1], row[2]], why: "\(error)"))
                }
            }
            return (due, unreadable)
        }
        if !unreadable.isEmpty {
            // Given up with the reason, so the loop does not meet the same row again.
            try await write { db in
                for output in unreadable {
                    try db.execute(
                        sql: """
                            UPDATE job_outputs SET download_state = 'failed', next_download_at = NULL, download_error = ?
                            WHERE job_id = ? AND kind = ? AND idx = ?
                            """,
                        arguments: StatementArguments([output.why.databaseValue] + output.key)
                    )
                }
            }
        }
        return due
    }

    /// When the next pending download falls due after `now` (a retry waiting), if any.
    public func nextDownloadTime(after now: Date) async throws(StoreError) -> Date? {
        let at = stamp(now)
        return try await read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT min(next_download_at) FROM job_outputs WHERE download_state = 'pending' AND next_download_at > ?"),
                arguments: [at]
            ).flatMap(Timestamp.parse)
        }
    }

    public func downloadSucceeded(_ download: PendingDownload, path: String, size: Int, contentType: String, sha256: String) async throws(StoreError)
    {
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE job_outputs SET download_state = 'done', path = ?, size = ?, content_type = ?, sha256 = ?,
                        download_attempts = download_attempts + 1, download_error = NULL, next_download_at = NULL
                    WHERE job_id = ? AND kind = ? AND idx = ? AND download_state = 'pending'
                    """,
                arguments: [path, size, contentType, sha256, download.jobId, download.kind.rawValue, download.index]
            )
        }
    }

    /// A failed attempt: tried again at `retryAt`, or given up (`retryAt` nil) with `error`.
    /// `countAttempt: false` for a failure that is not the output's (a full disk).
    public func downloadFailed(_ download: PendingDownload, error: String, retryAt: Date?, countAttempt: Bool = true) async throws(StoreError) {
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE job_outputs SET download_state = CASE WHEN ?1 IS NULL THEN 'failed' ELSE 'pending' END,
                        next_download_at = ?1, download_attempts = download_attempts + ?6, download_error = ?2
                    WHERE job_id = ?3 AND kind = ?4 AND idx = ?5 AND download_state = 'pending'
                    """,
                arguments: [retryAt.map(Timestamp.format), error, download.jobId, download.kind.rawValue, download.index, countAttempt ? 1 : 0]
            )
        }
    }

    /// Whether a download or a notification is due within `seconds` (what `--exit-when-idle`
    /// waits for before leaving).
    public func hasOutboxWork(within seconds: TimeInterval, now: Date) throws(StoreError) -> Bool {
        let horizon = stamp(now.addingTimeInterval(seconds))
        return try read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM job_outputs WHERE download_state = 'pending' AND next_download_at <= ?1)
                        OR EXISTS (SELECT 1 FROM notifications WHERE state = 'pending' AND next_attempt_at <= ?1)
                    """,
                arguments: [horizon]
            ) ?? false
        }
    }

    /// Whether `download` still waits, read afresh: a list of due downloads read while another
    /// task was finishing one can still name it, and a done output is never fetched again.
    public func isPending(_ download: PendingDownload) async throws(StoreError) -> Bool {
        try await read { db in
            try Bool.fetchOne(
                db.cachedStatement(
                    sql: "SELECT download_state = 'pending' FROM job_outputs WHERE job_id = ? AND kind = ? AND idx = ?"
                ),
                arguments: [download.jobId, download.kind.rawValue, download.index]
            ) ?? false
        }
    }

    /// Whether any output of `jobId` still waits for its download.
    public func hasPendingDownloads(jobId: Int64) throws(StoreError) -> Bool {
        try read { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM job_outputs WHERE job_id = ? AND download_state = 'pending')"),
                arguments: [jobId]
            ) ?? false
        }
    }
}
