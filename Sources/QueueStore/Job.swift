import Foundation
import GRDB
import QueueSupport

/// One row of `jobs`, as the program reads it. JSON columns stay text here.
public struct Job: Sendable, Hashable, Identifiable {
    public var id: Int64
    public var kind: String
    public var prompt: String?
    /// JSON object text.
    public var params: String
    public var tag: String?
    public var priority: Int
    public var runAfter: Date?
    public var idempotencyKey: String?
    public var parentId: Int64?
    public var state: JobState
    /// Why the job is in its state; copied into `job_events` on each change.
    public var reason: String?
    public var remoteJobId: String?
    public var remoteStatus: String?
    /// Submissions tried (a claim counts one).
    public var attempts: Int
    /// HTTP requests spent on this job (POSTs and GETs).
    public var requests: Int
    public var nextPollAt: Date?
    /// Last time Legnext reported a change of status.
    public var progressAt: Date?
    public var error: String?
    /// Legnext's error object (JSON text) when it gave one.
    public var errorDetail: String?
    /// Summary of the completed job's output (JSON text).
    public var output: String?
    public var creditsUsed: Int?
    public var createdAt: Date
    public var updatedAt: Date
    public var submittedAt: Date?
    public var finishedAt: Date?
}

extension Job: FetchableRecord {
    public init(row: Row) throws {
        // Column positions looked up once per row: GRDB's by-name access lowercases every
        // column name on each lookup (some 700 lowercasings for a whole row, 1–2 % of the
        // daemon's CPU in a fast drain, through the claim).
        var positions: [String: Int] = [:]
        for (index, name) in row.columnNames.enumerated() { positions[name] = index }
        func value<T: DatabaseValueConvertible>(_ column: String) -> T {
            positions[column].map { row[$0] } ?? row[column]
        }
        func date(_ column: String) -> Date? {
            (value(column) as String?).flatMap(Timestamp.parse)
        }
        let stateText: String = value("state")
        guard let state = JobState(rawValue: stateText) else {
            throw StoreError.invalid("job \(value("id") as Int64) has unknown state \(stateText)")
        }
        self.init(
            id: value("id"),
            kind: value("kind"),
            prompt: value("prompt"),
            params: value("params"),
            tag: value("tag"),
            priority: value("priority"),
            runAfter: date("run_after"),
            idempotencyKey: value("idempotency_key"),
            parentId: value("parent_id"),
            state: state,
            reason: value("reason"),
            remoteJobId: value("remote_job_id"),
            remoteStatus: value("remote_status"),
            attempts: value("attempts"),
            requests: value("requests"),
            nextPollAt: date("next_poll_at"),
            progressAt: date("progress_at"),
            error: value("error"),
            errorDetail: value("error_detail"),
            output: value("output"),
            creditsUsed: value("credits_used"),
            createdAt: date("created_at") ?? Date(timeIntervalSince1970: 0),
            updatedAt: date("updated_at") ?? Date(timeIntervalSince1970: 0),
            submittedAt: date("submitted_at"),
            finishedAt: date("finished_at")
        )
    }
}

/// One row of `job_events`.
public struct JobEvent: Sendable, Hashable, FetchableRecord {
    public var id: Int64
    public var jobId: Int64
    public var at: Date
    public var fromState: String?
    public var toState: String?
    public var detail: String?

    public init(row: Row) {
        id = row["id"]
        jobId = row["job_id"]
        at = (row["at"] as String?).flatMap(Timestamp.parse) ?? Date(timeIntervalSince1970: 0)
        fromState = row["from_state"]
        toState = row["to_state"]
        detail = row["detail"]
    }
}

/// One row of `job_outputs`.
public struct JobOutput: Sendable, Hashable, FetchableRecord {
    public enum Kind: String, Sendable, CaseIterable { case grid, image, video, text }
    public var jobId: Int64
    public var kind: Kind
    public var index: Int
    public var url: String?
    public var text: String?
    /// The download (`--output-dir`): nil when none was asked for.
    public var download: Download?

    public struct Download: Sendable, Hashable {
        public var state: String
        public var path: String?
        public var size: Int?
        public var contentType: String?
        public var sha256: String?
        public var attempts: Int
        public var error: String?
    }

    public init(jobId: Int64, kind: Kind, index: Int, url: String? = nil, text: String? = nil) {
        self.jobId = jobId
        self.kind = kind
        self.index = index
        self.url = url
        self.text = text
    }

    public init(row: Row) {
        jobId = row["job_id"]
        kind = Kind(rawValue: row["kind"]) ?? .image
        index = row["idx"]
        url = row["url"]
        text = row["text"]
        if let state: String = row["download_state"] {
            download = Download(
                state: state,
                path: row["path"],
                size: row["size"],
                contentType: row["content_type"],
                sha256: row["sha256"],
                attempts: row["download_attempts"],
                error: row["download_error"]
            )
        }
    }
}

/// A job with its history and outputs, for `show`.
public struct JobDetail: Sendable {
    public var job: Job
    public var events: [JobEvent]
    public var outputs: [JobOutput]
    public var notifications: [JobNotification] = []
}
