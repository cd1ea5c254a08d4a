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
    /// Why the row could not be read as it is (``RowReadError``); set only by ``init(leniently:)``
    /// for display, whose other fields are then what could be read.
    public var readError: String? = nil
    /// The account the job is pinned to (nil: any).
    public var account: String? = nil
    /// The account the daemon sent it with: whose Legnext job ``remoteJobId`` is.
    public var remoteAccount: String? = nil
}

extension Job {
    /// A job as another ``JobStore`` holds it: queued, with nothing sent yet.
    public init(
        id: Int64,
        kind: String,
        prompt: String?,
        params: String = "{}",
        tag: String? = nil,
        priority: Int = 0,
        parentId: Int64? = nil,
        state: JobState = .queued,
        createdAt: Date
    ) {
        self.init(
            id: id,
            kind: kind,
            prompt: prompt,
            params: params,
            tag: tag,
            priority: priority,
            runAfter: nil,
            idempotencyKey: nil,
            parentId: parentId,
            state: state,
            reason: nil,
            remoteJobId: nil,
            remoteStatus: nil,
            attempts: 0,
            requests: 0,
            nextPollAt: nil,
            progressAt: nil,
            error: nil,
            errorDetail: nil,
            output: nil,
            creditsUsed: nil,
            createdAt: createdAt,
            updatedAt: createdAt,
            submittedAt: nil,
            finishedAt: nil
        )
    }
}

extension Job: FetchableRecord {
    public init(row: Row) throws {
        try self.init(row: row, columns: Columns(row))
    }

    /// Reads a row whose column positions were found once for its statement: GRDB's by-name
    /// access lowercases every column name on each lookup, and a dictionary built per row
    /// was still a third of the claim's decoding.
    init(row: Row, columns c: Columns) throws(RowReadError) {
        let r = RowReader(row)
        let id = try r.requiredInt(c.id, "id")
        let stateText = try r.requiredText(c.state, "state")
        guard let state = JobState(rawValue: stateText) else {
            throw RowReadError("state \"\(stateText.prefix(40))\" is not one legnext-queue knows")
        }
        func int(_ index: Int?, _ name: String) throws(RowReadError) -> Int? { try r.int(index, name).map { Int($0) } }
        self.init(
            id: id,
            kind: try r.requiredText(c.kind, "kind"),
            prompt: try r.text(c.prompt, "prompt"),
            params: try r.text(c.params, "params") ?? "{}",
            tag: try r.text(c.tag, "tag"),
            priority: try int(c.priority, "priority") ?? 0,
            runAfter: try r.date(c.runAfter, "run_after"),
            idempotencyKey: try r.text(c.idempotencyKey, "idempotency_key"),
            parentId: try r.int(c.parentId, "parent_id"),
            state: state,
            reason: try r.text(c.reason, "reason"),
            remoteJobId: try r.text(c.remoteJobId, "remote_job_id"),
            remoteStatus: try r.text(c.remoteStatus, "remote_status"),
            attempts: try int(c.attempts, "attempts") ?? 0,
            requests: try int(c.requests, "requests") ?? 0,
            nextPollAt: try r.date(c.nextPollAt, "next_poll_at"),
            progressAt: try r.date(c.progressAt, "progress_at"),
            error: try r.text(c.error, "error"),
            errorDetail: try r.text(c.errorDetail, "error_detail"),
            output: try r.text(c.output, "output"),
            creditsUsed: try int(c.creditsUsed, "credits_used"),
            createdAt: try r.date(c.createdAt, "created_at") ?? Date(timeIntervalSince1970: 0),
            updatedAt: try r.date(c.updatedAt, "updated_at") ?? Date(timeIntervalSince1970: 0),
            submittedAt: try r.date(c.submittedAt, "submitted_at"),
            finishedAt: try r.date(c.finishedAt, "finished_at")
        )
        account = try r.text(c.account, "account")
        remoteAccount = try r.text(c.remoteAccount, "remote_account")
    }

    /// A row for `list` and `show`: read as far as it can be, with ``readError`` saying what
    /// could not be, so a person sees the row and the reason instead of a crash.
    init(leniently row: Row, columns c: Columns) {
        do {
            self = try Job(row: row, columns: c)
            return
        } catch {
            let r = RowReader(row)
            let stateText = (try? r.text(c.state, "state"))
            self.init(
                id: (try? r.int(c.id, "id")) ?? 0,
                kind: (try? r.text(c.kind, "kind")) ?? "?",
                prompt: (try? r.text(c.prompt, "prompt")),
                params: (try? r.text(c.params, "params")) ?? "{}",
                tag: (try? r.text(c.tag, "tag")),
                priority: 0,
                runAfter: nil,
                idempotencyKey: nil,
                parentId: (try? r.int(c.parentId, "parent_id")),
                state: stateText.flatMap(JobState.init(rawValue:)) ?? .failed,
                reason: (try? r.text(c.reason, "reason")),
                remoteJobId: (try? r.text(c.remoteJobId, "remote_job_id")),
                remoteStatus: nil,
                attempts: 0,
                requests: 0,
                nextPollAt: nil,
                progressAt: nil,
                error: (try? r.text(c.error, "error")),
                errorDetail: nil,
                output: nil,
                creditsUsed: nil,
                createdAt: (try? r.date(c.createdAt, "created_at")) ?? Date(timeIntervalSince1970: 0),
                updatedAt: (try? r.date(c.updatedAt, "updated_at")) ?? Date(timeIntervalSince1970: 0),
                submittedAt: nil,
                finishedAt: nil,
                readError: error.description
            )
        }
    }

    /// The position of each `jobs` column in a statement's rows (nil when not selected).
    struct Columns {
        var id, kind, prompt, params, tag, priority, runAfter, idempotencyKey, parentId, state, reason: Int?
        var remoteJobId, remoteStatus, attempts, requests, nextPollAt, progressAt, error, errorDetail: Int?
        var output, creditsUsed, createdAt, updatedAt, submittedAt, finishedAt, callbackToken: Int?
        var account, remoteAccount: Int?

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
                case "account": account = index
                case "remote_account": remoteAccount = index
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

    public init(row: Row) throws {
        let r = RowReader(row)
        id = try r.requiredInt("id")
        jobId = try r.requiredInt("job_id")
        at = try r.date("at") ?? Date(timeIntervalSince1970: 0)
        fromState = try r.text("from_state")
        toState = try r.text("to_state")
        detail = try r.text("detail")
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

    public init(row: Row) throws {
        let r = RowReader(row)
        jobId = try r.requiredInt("job_id")
        let kindText = try r.requiredText("kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw RowReadError("output kind \"\(kindText.prefix(40))\" is not grid, image, video or text")
        }
        self.kind = kind
        index = Int(try r.requiredInt("idx"))
        url = try r.text("url")
        text = try r.text("text")
        if let state = try r.text("download_state") {
            download = Download(
                state: state,
                path: try r.text("path"),
                size: try r.int("size").map { Int($0) },
                contentType: try r.text("content_type"),
                sha256: try r.text("sha256"),
                attempts: Int(try r.int("download_attempts") ?? 0),
                error: try r.text("download_error")
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
    /// Rows of this job's history, outputs or notifications that could not be read, and why.
    public var unreadable: [String] = []
}
