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
        try self.init(row: row, columns: Columns(row))
    }

    /// Reads a row whose column positions were found once for its statement: GRDB's by-name
    /// access lowercases every column name on each lookup, and a dictionary built per row
    /// was still a third of the claim's decoding.
    init(row: Row, columns c: Columns) throws {
        func value<T: DatabaseValueConvertible>(_ index: Int?) -> T? {
            index.flatMap { row[$0] }
        }
        func required<T: DatabaseValueConvertible>(_ index: Int?, _ name: String) throws -> T {
            guard let value: T = value(index) else { throw StoreError.invalid("jobs row without \(name)") }
            return value
        }
        func date(_ index: Int?) -> Date? {
            (value(index) as String?).flatMap(Timestamp.parse)
        }
        let id: Int64 = try required(c.id, "id")
        let stateText: String = try required(c.state, "state")
        guard let state = JobState(rawValue: stateText) else {
            throw StoreError.invalid("job \(id) has unknown state \(stateText)")
        }
        self.init(
            id: id,
            kind: try required(c.kind, "kind"),
            prompt: value(c.prompt),
            params: value(c.params) ?? "{}",
            tag: value(c.tag),
            priority: value(c.priority) ?? 0,
            runAfter: date(c.runAfter),
            idempotencyKey: value(c.idempotencyKey),
            parentId: value(c.parentId),
            state: state,
            reason: value(c.reason),
            remoteJobId: value(c.remoteJobId),
            remoteStatus: value(c.remoteStatus),
            attempts: value(c.attempts) ?? 0,
            requests: value(c.requests) ?? 0,
            nextPollAt: date(c.nextPollAt),
            progressAt: date(c.progressAt),
            error: value(c.error),
            errorDetail: value(c.errorDetail),
            output: value(c.output),
            creditsUsed: value(c.creditsUsed),
            createdAt: date(c.createdAt) ?? Date(timeIntervalSince1970: 0),
            updatedAt: date(c.updatedAt) ?? Date(timeIntervalSince1970: 0),
            submittedAt: date(c.submittedAt),
            finishedAt: date(c.finishedAt)
        )
    }

    /// The position of each `jobs` column in a statement's rows (nil when not selected).
    struct Columns {
        var id, kind, prompt, params, tag, priority, runAfter, idempotencyKey, parentId, state, reason: Int?
        var remoteJobId, remoteStatus, attempts, requests, nextPollAt, progressAt, error, errorDetail: Int?
        var output, creditsUsed, createdAt, updatedAt, submittedAt, finishedAt, callbackToken: Int?

        init(_ row: Row) {
            for (index, name) in row.columnNames.enumerated() {
                switch name {
                case "id": id = index
                case "kind": kind = index
                case "prompt": prompt = index
                case "params": params = index
                case "tag": tag = index
                case "priority": priority = index
                case "run_after": runAfter = index
                case "idempotency_key": idempotencyKey = index
                case "parent_id": parentId = index
                case "state": state = index
                case "reason": reason = index
                case "remote_job_id": remoteJobId = index
                case "remote_status": remoteStatus = index
                case "attempts": attempts = index
                case "requests": requests = index
                case "next_poll_at": nextPollAt = index
                case "progress_at": progressAt = index
                case "error": error = index
                case "error_detail": errorDetail = index
                case "output": output = index
                case "credits_used": creditsUsed = index
                case "created_at": createdAt = index
                case "updated_at": updatedAt = index
                case "submitted_at": submittedAt = index
                case "finished_at": finishedAt = index
                case "callback_token": callbackToken = index
                default: break
                }
            }
        }
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
