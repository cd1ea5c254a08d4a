import Foundation
import GRDB
import QueueSupport

/// The daemon's transitions. Each is one short IMMEDIATE transaction; the `jobs_state_event`
/// trigger appends the matching `job_events` row in the same transaction.
extension QueueStore {
    /// Claims up to `limit` due jobs for submission, committing `submitting` durably (synchronous
    /// FULL) before any request leaves: the write-ahead record that makes a crash safe.
    /// Follow-ups whose parent ended without completing (or does not exist) fail here, and so does
    /// a row that breaks the schema's rules or cannot be read (``ClaimBatch/failed``): one bad row
    /// never stops the claim of the others.
    ///
    /// With `callbackTokens`, each claimed job gets the secret of its callback URL in the same
    /// transaction (kept if it has one), so a callback after a crash can still be recognised.
    ///
    /// `route` says which jobs this account may take (``AccountRoute``); each claimed job records
    /// it as `remote_account` in the same transaction, before its request leaves.
    public func claim(limit: Int, now: Date, callbackTokens: Bool = false, route: AccountRoute = .single) async throws(StoreError) -> ClaimBatch {
        guard limit > 0 else { return ClaimBatch() }
        let at = stamp(now)
        let names = Self.jsonArray(route.all)
        return try await writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
            var batch = ClaimBatch()
            try db.inTransaction(.immediate) {
                let candidates = try Row.fetchAll(
                    db.cachedStatement(sql: Self.claimCandidatesSQL),
                    arguments: [at, limit, route.name, names, AccountRoute.defaultName]
                )
                var ids: [Int64] = []
                var parents: [Int64: ParentJob] = [:]
                for row in candidates {
                    let r = RowReader(row)
                    let id = try r.requiredInt(0, "id")
                    do {
                        let parent = try r.int(1, "parent_id")
                        let parentState = try r.text(2, "the parent's state")
                        let parentAccount: String?? = parentState == "completed" ? .some(try r.text(8, "the parent's remote_account")) : nil
                        if let why = route.refusal(id: id, pin: try r.text(7, "account"), parentId: parent, parentAccount: parentAccount) {
                            try Self.fail(id: id, error: why, detail: nil, reason: why, at: at, db)
                            batch.failed.append(.init(id: id, reason: why))
                            continue
                        }
                        guard let parent else {
                            ids.append(id)
                            continue
                        }
                        let parentRemote = try r.text(3, "the parent's remote_job_id")
                        if parentState == "completed", let parentRemote {
                            ids.append(id)
                            parents[id] = try Self.parentFacts(r, parent: parent, remoteJobId: parentRemote, db)
                        } else {
                            let why =
                                parentState.map { "parent job \(parent) ended \($0); retry it, then retry this job" }
                                ?? "parent job \(parent) does not exist"
                            try Self.fail(id: id, error: why, detail: nil, reason: why, at: at, db)
                            batch.failed.append(.init(id: id, reason: why))
                        }
                    } catch let error as RowReadError {
                        batch.failed.append(try Self.quarantine(id: id, error.description, at: at, db))
                    }
                }
                try Self.markSubmitting(ids, parents: parents, callbackTokens: callbackTokens, account: route.name, at: at, into: &batch, db)
                return .commit
            }
            batch.jobs.sort { ($0.job.priority, -$0.job.id) > ($1.job.priority, -$1.job.id) }
            return batch
        }
    }

    /// What the follow-up of a claim candidate row needs to know of its completed parent.
    private static func parentFacts(_ r: RowReader, parent: Int64, remoteJobId: String, _ db: Database) throws -> ParentJob {
        ParentJob(
            id: parent,
            kind: try r.text(5, "the parent's kind") ?? "",
            prompt: try r.text(6, "the parent's prompt"),
            remoteJobId: remoteJobId,
            extensions: try r.text(4, "kind") == "extend-video" ? try extensions(endingAt: parent, db) : 0
        )
    }

    static func extensions(endingAt id: Int64, _ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: extensionsSQL), arguments: [id]) ?? 0
    }

    /// The `extend-video` jobs in a row that end at job ?1 (itself included).
    private static let extensionsSQL = """
        WITH RECURSIVE chain(id, kind, parent_id, depth) AS (
            SELECT id, kind, parent_id, 0 FROM jobs WHERE id = ?1
            UNION ALL
            SELECT j.id, j.kind, j.parent_id, chain.depth + 1 FROM chain JOIN jobs AS j ON j.id = chain.parent_id
            WHERE chain.kind = 'extend-video' AND chain.depth < 64
        )
        SELECT count(*) FROM chain WHERE kind = 'extend-video'
        """

    /// Moves `ids` from queued to submitting. A row that breaks a rule added after it was written
    /// makes the one UPDATE fail: then each is claimed alone, and the one that breaks it fails
    /// with the rule's message.
    private static func markSubmitting(
        _ ids: [Int64],
        parents: [Int64: ParentJob],
        callbackTokens: Bool,
        account: String,
        at: String,
        into batch: inout ClaimBatch,
        _ db: Database
    ) throws {
        guard !ids.isEmpty else { return }
        let rows: [Row]
        do {
            // randomblob() draws from SQLite's ChaCha20 generator, seeded by the OS.
            rows = try Row.fetchAll(
                db.cachedStatement(sql: markSubmittingSQL),
                arguments: [at, "[" + ids.map(String.init).joined(separator: ",") + "]", callbackTokens, account]
            )
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            guard ids.count == 1 else {
                for id in ids {
                    try markSubmitting([id], parents: parents, callbackTokens: callbackTokens, account: account, at: at, into: &batch, db)
                }
                return
            }
            let unreadable = RowReadError("it breaks the rule \"\(error.brokenRule)\"")
            batch.failed.append(try quarantine(id: ids[0], unreadable.description, at: at, db))
            return
        }
        guard let first = rows.first else { return }
        let columns = Job.Columns(first)
        let nul = Array(first.columnNames).firstIndex(of: "has_nul")
        for row in rows {
            let r = RowReader(row)
            let id = try r.requiredInt(columns.id, "id")
            do {
                if let nul, try r.int(nul, "has_nul") == 1 {
                    throw RowReadError("kind, prompt or params holds a NUL character, which would cut what is sent")
                }
                let job = try Job(row: row, columns: columns)
                let token = try r.text(columns.callbackToken, "callback_token")
                batch.jobs.append(ClaimedJob(job: job, parent: parents[job.id], callbackToken: token))
            } catch {
                batch.failed.append(try quarantine(id: id, "\(error)", at: at, db))
            }
        }
    }

    private static let markSubmittingSQL = """
        UPDATE jobs SET state = 'submitting', attempts = attempts + 1,
            reason = 'submitting (attempt ' || (attempts + 1) || ')', updated_at = ?1, remote_account = ?4,
            callback_token = CASE WHEN ?3 THEN coalesce(callback_token, lower(hex(randomblob(16)))) ELSE callback_token END
        WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'queued'
        RETURNING *, (instr(CAST(kind AS BLOB), x'00') + instr(CAST(prompt AS BLOB), x'00') + instr(CAST(params AS BLOB), x'00')) > 0 AS has_nul
        """

    /// Fails a job whose row the daemon cannot use as it stands, before any request: the row
    /// keeps every value (for a person to look at and mend), only its state and error change.
    /// The rules of the schema are not asked here, since the row may break one of them; the
    /// state machine's trigger still is.
    static func quarantine(id: Int64, _ message: String, at: String, _ db: Database) throws -> ClaimBatch.Failure {
        try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
        defer { try? db.execute(sql: "PRAGMA ignore_check_constraints = OFF") }
        try db.execute(
            sql: """
                UPDATE jobs SET state = 'failed', error = ?1, reason = ?1, next_poll_at = NULL, finished_at = ?2, updated_at = ?2
                WHERE id = ?3
                """,
            arguments: [message, at, id]
        )
        return .init(id: id, reason: message)
    }

    /// The next claimable jobs, in claim order. `INDEXED BY`: without statistics SQLite's planner
    /// prefers the `jobs_state` equality lookup and sorts every queued row for each claim (O(queued)
    /// per claim: 8 ms at 20,000 queued, ~0.4 s at a million); `jobs_claim` yields them in order.
    ///
    /// The account ?3 takes the unpinned jobs whose completed parent, if any, it made (NULL: made
    /// before accounts, by ?5, `default`) or no account of the daemon (?4) did, and the jobs
    /// pinned to it, each walked on its own index; ``AccountRoute`` fails the ones it cannot
    /// send, with the reason. Pins to accounts the daemon does not run are failed at start-up
    /// (``failUnroutablePins(accounts:now:)``): the schema refuses new ones.
    static let claimCandidatesSQL = """
        SELECT * FROM (
            SELECT j.id, j.parent_id, p.state AS parent_state, p.remote_job_id AS parent_remote, j.kind, p.kind AS parent_kind,
                p.prompt AS parent_prompt, j.account, p.remote_account AS parent_account, j.priority
            FROM jobs AS j INDEXED BY jobs_claim LEFT JOIN jobs AS p ON p.id = j.parent_id
            WHERE j.state = 'queued' AND j.account IS NULL AND (j.run_after IS NULL OR j.run_after <= ?1)
              AND (j.parent_id IS NULL OR p.state IS NULL OR p.state IN ('completed', 'failed', 'cancelled', 'uncertain'))
              AND (p.state IS NOT 'completed' OR coalesce(p.remote_account, ?5) = ?3
                   OR coalesce(p.remote_account, ?5) NOT IN (SELECT value FROM json_each(?4)))
            ORDER BY j.priority DESC, j.id
            LIMIT ?2
        )
        UNION ALL
        SELECT * FROM (
            SELECT j.id, j.parent_id, p.state, p.remote_job_id, j.kind, p.kind, p.prompt, j.account, p.remote_account, j.priority
            FROM jobs AS j INDEXED BY jobs_pinned LEFT JOIN jobs AS p ON p.id = j.parent_id
            WHERE j.state = 'queued' AND j.account = ?3 AND (j.run_after IS NULL OR j.run_after <= ?1)
              AND (j.parent_id IS NULL OR p.state IS NULL OR p.state IN ('completed', 'failed', 'cancelled', 'uncertain'))
            ORDER BY j.priority DESC, j.id
            LIMIT ?2
        )
        ORDER BY priority DESC, id
        LIMIT ?2
        """

    /// Legnext accepted the job: its id is committed the moment it arrives. `finished` is how the
    /// job ended when the POST's answer already said so; it is applied in the same transaction.
    public func markSubmitted(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        nextPollAt: Date,
        now: Date,
        finished: RemoteUpdate? = nil
    ) async throws(StoreError) {
        let at = stamp(now)
        let state = status.runningState
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = ?1, remote_job_id = ?2, remote_status = ?1, submitted_at = ?3, progress_at = ?3,
                        next_poll_at = ?4, requests = requests + 1, reason = 'accepted by Legnext as ' || ?2, updated_at = ?3
                    WHERE id = ?5 AND state = 'submitting'
                    """,
                arguments: [state, remoteJobId, at, Timestamp.format(nextPollAt), id]
            )
            if let finished { try Self.applyRemote(id: id, update: finished, nextPollAt: nil, at: at, db) }
        }
    }

    /// Applies a status Legnext reported. A status that would move the job backwards is ignored
    /// (an older answer arriving late). Returns the state the job is in afterwards.
    @discardableResult
    public func applyRemote(id: Int64, update: RemoteUpdate, nextPollAt: Date?, now: Date) async throws(StoreError) -> JobState? {
        let at = stamp(now)
        return try await write { db in try Self.applyRemote(id: id, update: update, nextPollAt: nextPollAt, at: at, db) }
    }

    @discardableResult
    static func applyRemote(id: Int64, update: RemoteUpdate, nextPollAt: Date?, at: String, _ db: Database) throws -> JobState? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, remote_status FROM jobs WHERE id = ?"), arguments: [id]),
            let state = JobState(rawValue: try RowReader(row).requiredText(0, "state"))
        else { return nil }
        guard state.isInFlight, state != .submitting else { return state }
        let current = try RowReader(row).text(1, "remote_status").flatMap(LegnextJobStatus.init(rawValue:))
        let requests = update.countsRequest ? 1 : 0
        guard !update.status.isBehind(current) else {
            if update.countsRequest {
                try db.executeCached(sql: "UPDATE jobs SET requests = requests + 1 WHERE id = ?", arguments: [id])
            }
            return state
        }
        switch update.status {
        case .completed:
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = 'completed', remote_status = 'completed', output = ?1, credits_used = ?2,
                        requests = requests + ?5, next_poll_at = NULL, progress_at = ?3, finished_at = ?3, updated_at = ?3,
                        reason = 'completed', error = NULL, error_detail = NULL
                    WHERE id = ?4
                    """,
                arguments: [update.output, update.creditsUsed, at, id, requests]
            )
            if !update.outputs.isEmpty {
                // One statement for all of a job's outputs (a grid and four images, usually).
                let insert = try db.cachedStatement(sql: Self.insertOutputsSQL(count: update.outputs.count))
                var values: [(any DatabaseValueConvertible)?] = []
                for output in update.outputs {
                    let download = update.downloadOutputs && output.url != nil && output.kind != .text
                    values += [
                        id, output.kind.rawValue, output.index, output.url, output.text, at, download ? "pending" : nil, download ? at : nil,
                    ]
                }
                try insert.execute(arguments: StatementArguments(values))
            }
            return .completed
        case .failed:
            let message = update.error ?? "Legnext reported the job failed"
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = 'failed', remote_status = 'failed', error = ?1, error_detail = ?2,
                        requests = requests + ?5, next_poll_at = NULL, progress_at = ?3, finished_at = ?3, updated_at = ?3,
                        reason = 'failed at Legnext'
                    WHERE id = ?4
                    """,
                arguments: [message, update.errorDetail, at, id, requests]
            )
            return .failed
        case .pending, .staged, .processing:
            let progressed = update.status.isAhead(of: current)
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = ?1, remote_status = ?1, requests = requests + ?6, next_poll_at = ?2,
                        progress_at = CASE WHEN ?3 THEN ?4 ELSE progress_at END,
                        updated_at = CASE WHEN ?3 THEN ?4 ELSE updated_at END,
                        reason = CASE WHEN ?3 THEN 'Legnext reports ' || ?1 ELSE reason END
                    WHERE id = ?5
                    """,
                arguments: [update.status.rawValue, nextPollAt.map(Timestamp.format), progressed, at, id, requests]
            )
            return JobState(rawValue: update.status.rawValue) ?? state
        }
    }

    /// The insert of `count` (≥ 1) outputs; the usual counts' text made once, not per job.
    private static func insertOutputsSQL(count: Int) -> String {
        count <= commonOutputInserts.count ? commonOutputInserts[count - 1] : outputInsertSQL(count: count)
    }

    private static let commonOutputInserts = (1...8).map(outputInsertSQL(count:))

    private static func outputInsertSQL(count: Int) -> String {
        """
        INSERT OR REPLACE INTO job_outputs (job_id, kind, idx, url, text, created_at, download_state, next_download_at)
        VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", "))
        """
    }

    /// A request for this job did not get a usable answer: counts it and, when `note` is given,
    /// records it in the job's events without changing its state.
    /// A line in the job's timeline (`show`), without a state change.
    public func addEvent(id: Int64, detail: String, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.executeCached(sql: "INSERT INTO job_events (job_id, at, detail) VALUES (?, ?, ?)", arguments: [id, at, detail])
        }
    }

    public func recordRequestProblem(id: Int64, note: String?, nextPollAt: Date?, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.executeCached(
                sql: "UPDATE jobs SET requests = requests + 1, next_poll_at = coalesce(?1, next_poll_at) WHERE id = ?2",
                arguments: [nextPollAt.map(Timestamp.format), id]
            )
            if let note {
                try db.executeCached(sql: "INSERT INTO job_events (job_id, at, detail) VALUES (?, ?, ?)", arguments: [id, at, note])
            }
        }
    }

    /// A claimed job goes back to the queue: its request provably did not reach Legnext, or was
    /// refused for reasons that are not the job's (rate limit, account). `countAttempt` false
    /// gives back the attempt the claim took.
    public func requeue(id: Int64, runAfter: Date?, reason: String, countAttempt: Bool, requestSent: Bool, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = 'queued', run_after = ?1, reason = ?2, remote_account = NULL,
                        attempts = attempts - CASE WHEN ?3 THEN 0 ELSE 1 END,
                        requests = requests + CASE WHEN ?4 THEN 1 ELSE 0 END, updated_at = ?5
                    WHERE id = ?6 AND state = 'submitting'
                    """,
                arguments: [runAfter.map(Timestamp.format), reason, countAttempt, requestSent, at, id]
            )
        }
    }

    /// Fails a job that is not finished yet, keeping Legnext's error object when there is one.
    public func fail(id: Int64, error: String, detail: String?, requestSent: Bool, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try Self.fail(id: id, error: error, detail: detail, reason: error, at: at, requestSent: requestSent, db)
        }
    }

    /// The POST may have reached Legnext but no answer came: hold the job for a person (or a callback).
    public func markUncertain(id: Int64, reason: String, now: Date) async throws(StoreError) {
        let at = stamp(now)
        try await write { db in
            try db.executeCached(
                sql: """
                    UPDATE jobs SET state = 'uncertain', reason = ?1, error = ?1, requests = requests + 1, finished_at = ?2, updated_at = ?2
                    WHERE id = ?3 AND state = 'submitting'
                    """,
                arguments: [reason, at, id]
            )
        }
    }

    static func fail(id: Int64, error: String, detail: String?, reason: String, at: String, requestSent: Bool = false, _ db: Database) throws {
        try db.executeCached(
            sql: """
                UPDATE jobs SET state = 'failed', error = ?1, error_detail = ?2, reason = ?3, next_poll_at = NULL,
                    requests = requests + CASE WHEN ?4 THEN 1 ELSE 0 END, finished_at = ?5, updated_at = ?5
                WHERE id = ?6 AND state NOT IN ('completed', 'failed', 'cancelled', 'uncertain')
                """,
            arguments: [error, detail, reason, requestSent, at, id]
        )
    }

    public func failUnroutablePins(route: AccountRoute, now: Date) async throws(StoreError) -> [ClaimBatch.Failure] {
        let at = stamp(now)
        let names = Self.jsonArray(route.all)
        return try await write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, account FROM jobs INDEXED BY jobs_pinned
                    WHERE account IS NOT NULL AND state = 'queued' AND account NOT IN (SELECT value FROM json_each(?))
                    """,
                arguments: [names]
            )
            var failed: [ClaimBatch.Failure] = []
            for row in rows {
                let r = RowReader(row)
                let id = try r.requiredInt(0, "id")
                let pin = (try? r.text(1, "account")) ?? nil
                let why = route.refusal(id: id, pin: pin ?? "?", parentId: nil, parentAccount: nil) ?? "pinned to an account the daemon does not run"
                try Self.fail(id: id, error: why, detail: nil, reason: why, at: at, db)
                failed.append(.init(id: id, reason: why))
            }
            return failed
        }
    }

    /// Start-up recovery: a job left in `submitting` by a crash may or may not have reached
    /// Legnext. It becomes `uncertain` and is never resent without `retry`. Returns the ids.
    public func recoverInterruptedSubmissions(now: Date) async throws(StoreError) -> [Int64] {
        let at = stamp(now)
        return try await write { db in
            try Int64.fetchAll(
                db,
                sql: """
                    UPDATE jobs SET state = 'uncertain',
                        reason = 'the daemon stopped while submitting; Legnext may have the job: `legnext-queue retry` resends it, `cancel` settles it',
                        error = 'submission interrupted; outcome unknown', finished_at = ?1, updated_at = ?1
                    WHERE state = 'submitting'
                    RETURNING id
                    """,
                arguments: [at]
            )
        }
    }

    /// Accepted jobs still being followed (to resume polling after a restart). A row that cannot
    /// be followed (no remote id, or a column it cannot read) fails with the reason instead.
    public func inFlightJobs(now: Date) async throws(StoreError) -> (jobs: [InFlightJob], failed: [ClaimBatch.Failure]) {
        let at = stamp(now)
        return try await write { db in
            var jobs: [InFlightJob] = []
            var failed: [ClaimBatch.Failure] = []
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, kind, remote_job_id, remote_status, submitted_at, progress_at, next_poll_at, requests, remote_account FROM jobs
                    WHERE state IN ('pending', 'staged', 'processing')
                    """
            )
            for row in rows {
                let r = RowReader(row)
                let id = try r.requiredInt(0, "id")
                do {
                    guard let remote = try r.text(2, "remote_job_id") else {
                        throw RowReadError("the job is in flight but has no remote_job_id, so it cannot be followed (was it inserted by hand?)")
                    }
                    let submitted = try r.date(4, "submitted_at") ?? now
                    jobs.append(
                        InFlightJob(
                            id: id,
                            kind: try r.requiredText(1, "kind"),
                            remoteJobId: remote,
                            remoteStatus: try r.text(3, "remote_status").flatMap(LegnextJobStatus.init(rawValue:)) ?? .pending,
                            submittedAt: submitted,
                            progressAt: try r.date(5, "progress_at") ?? submitted,
                            nextPollAt: try r.date(6, "next_poll_at"),
                            requests: Int(try r.int(7, "requests") ?? 0),
                            account: try r.text(8, "remote_account")
                        )
                    )
                } catch {
                    failed.append(try Self.quarantine(id: id, "\(error)", at: at, db))
                }
            }
            return (jobs, failed)
        }
    }

    /// Start-up: fails the rows no claim would ever take, which would otherwise wait for ever
    /// without a word: a state that is none of the machine's (a BLOB 'queued', a made-up name),
    /// and queued follow-ups whose parents form a cycle. The schema refuses both since 0006;
    /// older rows, or rows written with its rules dropped, can still hold them.
    public func failUnclaimableRows(now: Date) async throws(StoreError) -> [ClaimBatch.Failure] {
        let at = stamp(now)
        return try await write { db in
            var failed: [ClaimBatch.Failure] = []
            let unknown = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, state FROM jobs
                    WHERE NOT (state = 'queued' OR state = 'submitting' OR state = 'pending' OR state = 'staged' OR state = 'processing'
                               OR state = 'completed' OR state = 'failed' OR state = 'cancelled' OR state = 'uncertain')
                    """
            )
            for row in unknown {
                let id = try RowReader(row).requiredInt(0, "id")
                let shown = RowReader.describe((row[1] as DatabaseValue).storage)
                let unreadable = RowReadError("its state is \(shown), not one legnext-queue knows")
                failed.append(try Self.quarantine(id: id, unreadable.description, at: at, db))
            }
            // Every cycle has a step to a parent with a larger (or the same) id: start from those.
            let cycles = try Int64.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE chain(start, parent, depth) AS (
                        SELECT id, parent_id, 1 FROM jobs
                        WHERE state = 'queued' AND parent_id IS NOT NULL AND parent_id >= id
                        UNION ALL
                        SELECT chain.start, j.parent_id, chain.depth + 1 FROM chain JOIN jobs AS j ON j.id = chain.parent
                        WHERE j.parent_id IS NOT NULL AND chain.parent <> chain.start AND chain.depth < 10000
                    )
                    SELECT DISTINCT start FROM chain WHERE parent = start
                    """
            )
            for id in cycles {
                failed.append(
                    try Self.quarantine(
                        id: id,
                        "its parents form a cycle (a job cannot follow up on itself); set parent_id to an earlier, completed job and retry it",
                        at: at,
                        db
                    )
                )
            }
            return failed
        }
    }

    /// How many jobs are queued (delayed ones included).
    public func queuedCount() async throws(StoreError) -> Int {
        try await read { db in try Self.stateCounts(db)[.queued] ?? 0 }
    }

    /// Queued jobs whose `run_after` is still ahead of `now`, and the earliest of those times.
    public func deferredJobs(after now: Date) async throws(StoreError) -> (count: Int, next: Date?) {
        let at = stamp(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db,
                sql: "SELECT count(*), min(run_after) FROM jobs WHERE state = 'queued' AND run_after IS NOT NULL AND run_after > ?",
                arguments: [at]
            )
            let r = row.map { RowReader($0) }
            return (Int(try r?.int(0, "count") ?? 0), try r?.date(1, "run_after"))
        }
    }

    /// The earliest `run_after` still in the future, to wake for it.
    public func nextDueTime(after now: Date) async throws(StoreError) -> Date? {
        let at = stamp(now)
        return try await read { db in
            try String.fetchOne(
                db,
                sql: "SELECT min(run_after) FROM jobs WHERE state = 'queued' AND run_after IS NOT NULL AND run_after > ?",
                arguments: [at]
            ).flatMap(Timestamp.parse)
        }
    }

    /// Recent true durations (Legnext's start to end as we saw it) of completed jobs of `kind`, newest first.
    public func recentDurations(kind: String, limit: Int) async throws(StoreError) -> [Double] {
        try await read { db in
            try Double.fetchAll(
                db,
                sql: """
                    SELECT (julianday(finished_at) - julianday(submitted_at)) * 86400 FROM jobs
                    WHERE state = 'completed' AND kind = ? AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
                    ORDER BY id DESC LIMIT ?
                    """,
                arguments: [kind, limit]
            )
        }
    }
}

extension Database {
    /// Runs a statement prepared once per connection: compiling SQL (and GRDB's authorizer pass
    /// over it) cost more than running it on the daemon's hot paths.
    func executeCached(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
