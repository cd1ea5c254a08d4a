import Foundation
import LegnextAPI
import QueueStore

extension QueueEngine {
    /// Sends one claimed job and records what came of it. The claim already took its token.
    func submit(_ claimed: ClaimedJob, ticket: RateLimiter.Ticket) async {
        let job = claimed.job
        let log = JobLog(logger, id: job.id)
        var postingEnded = false
        defer {
            if !postingEnded { state.withLock { _ = $0.endPosting(job.id) } }
            workSignal.signal()
        }
        if isStopping {
            await putBack(job, ticket, reason: "daemon stopped before sending it", log)
            return
        }
        guard let points = takeCredit(for: job.kind) else {
            await putBack(job, ticket, reason: "waiting: the balance left does not cover it", log)
            return
        }
        let request: LegnextRequest
        do throws(RequestValidationError) {
            if let parent = claimed.parent, let kind = LegnextKind(rawValue: job.kind),
                let why = kind.parentProblem(parentKind: parent.kind, parentPrompt: parent.prompt, extensions: parent.extensions)
            {
                throw RequestValidationError(why)
            }
            request = try job.request(parentRemoteJobId: claimed.parent?.remoteJobId)
                .withCallback(callbackURL(job.id, token: claimed.callbackToken))
        } catch {
            limiter.giveBack(ticket)
            log.warning("job \(job.id) failed before sending: \(error.message)")
            await finishFailed(job.id, error: "invalid request: \(error.message)", detail: nil, requestSent: false, log)
            return
        }
        let sentAt = clock.now()
        state.withLock { $0.unanswered[job.id] = job }
        // Until its outcome is recorded: the settler must not give the job it makes to another row.
        defer { state.withLock { _ = $0.unanswered.removeValue(forKey: job.id) } }
        let outcome = await legnext.submit(request)
        limiter.finished(ticket, outcome.budgetResult)
        EngineMetrics.request(account: route.name, "POST /v1/\(request.kind.rawValue)", outcome)
        let now = clock.now()
        if outcome.wasAnswered { noteAnswer(after: now.timeIntervalSince(sentAt)) }
        let listMissing = state.withLock { $0.hasActiveTasks == false }
        let verdict = SubmissionVerdict(
            outcome,
            jobId: job.id,
            attempts: job.attempts,
            rules: .init(configuration),
            settles: configuration.autoSettle && !listMissing,
            listMissing: configuration.autoSettle && listMissing,
            now: now,
            jitter: Double.random(in: 0..<1)
        )
        switch verdict {
        case .accepted(let remote):
            notePoints(kind: job.kind, frozen: remote.usage?.frozen, taken: points)
            await accepted(job, remote: remote, now: now, log)
        case .fail(let reason, let detail, let requestSent):
            log.warning("job \(job.id) failed: \(reason)")
            await finishFailed(job.id, error: reason, detail: detail, requestSent: requestSent, log)
        case .pause(let failure, let reason):
            pause(for: failure, kind: job.kind)
            await record(job.id, log) {
                try await self.store.requeue(id: job.id, runAfter: nil, reason: reason, countAttempt: false, requestSent: true, now: now)
            }
        case .requeue(let runAfter, let reason, let countAttempt, let requestSent):
            if case .rateLimited = outcome {
                log.info("Legnext answered 429; slowing to \(String(format: "%.2f", limiter.currentRate)) requests/s")
            } else {
                let wait = runAfter.map { " in " + String(format: "%.1f", $0.timeIntervalSince(now)) + "s" } ?? ""
                log.info("job \(job.id): \(reason); trying again\(wait) (attempt \(job.attempts + 1) of \(configuration.maxAttempts))")
            }
            await record(job.id, log) {
                try await self.store.requeue(
                    id: job.id,
                    runAfter: runAfter,
                    reason: reason,
                    countAttempt: countAttempt,
                    requestSent: requestSent,
                    now: now
                )
            }
        case .uncertain(let reason):
            log.warning("job \(job.id) uncertain: \(reason)")
            let marked: Void? = await record(job.id, log) { try await self.store.markUncertain(id: job.id, reason: reason, now: now) }
            guard marked != nil else { return }
            beginSettling(job, sentAt: sentAt, answeredAt: now.addingTimeInterval(sealMargin()))
            // What callbacks said while the POST was unanswered, taken as the POST ends: one read
            // later finds no POST under way and confirms the job it names itself.
            let early = state.withLock { $0.endPosting(job.id) }
            postingEnded = true
            // A callback named the job Legnext made: the evidence a later callback would give,
            // asked of Legnext the same way.
            if let named = early?.remoteJobId {
                log.notice("job \(job.id): a callback named Legnext job \(named) before the answer was lost; confirming it")
                _ = confirmNamed(job.id, remoteJobId: named)
            }
        }
    }

    /// Returns a claimed job to the queue unsent: no attempt counted, its rate ticket given back.
    private func putBack(_ job: Job, _ ticket: RateLimiter.Ticket, reason: String, _ log: JobLog) async {
        limiter.giveBack(ticket)
        await record(job.id, log) {
            try await self.store.requeue(
                id: job.id,
                runAfter: nil,
                reason: reason,
                countAttempt: false,
                requestSent: false,
                now: self.clock.now()
            )
        }
    }

    private func accepted(_ job: Job, remote: LegnextJob, now: Date, _ log: JobLog) async {
        var log = log
        log.remoteId = remote.jobId
        if remote.status.isFinal {
            // Finished before Legnext answered: accepted and finished in one transaction, never polled.
            let update = finalUpdate(remote, countsRequest: false)
            let stored: Void? = await record(job.id, log) {
                try await self.store.markSubmitted(
                    id: job.id,
                    remoteJobId: remote.jobId,
                    status: remote.status,
                    nextPollAt: now,
                    now: now,
                    finished: update
                )
            }
            guard stored != nil else { return }
            log.info("job \(job.id) submitted as \(remote.jobId) (attempt \(job.attempts))")
            noteFinished(job.id, remote, kind: job.kind, submittedAt: now, polls: 0, now: now, log)
            return
        }
        let next = state.withLock { state -> Date in
            if state.earlyCallbacks.removeValue(forKey: job.id)?.finished == true { return now }
            return nextPoll(state.scheduler, kind: job.kind, submittedAt: now, polls: 0, now: now, watched: watches(state, job.id))
        }
        let stored: Void? = await record(job.id, log) {
            try await self.store.markSubmitted(
                id: job.id,
                remoteJobId: remote.jobId,
                status: remote.status,
                nextPollAt: next,
                now: now,
                finished: nil
            )
        }
        guard stored != nil else { return }
        log.info("job \(job.id) submitted as \(remote.jobId) (attempt \(job.attempts))")
        state.withLock { $0.follow(job.id, kind: job.kind, remoteJobId: remote.jobId, status: remote.status, submittedAt: now, next: next) }
        pollSignal.signal()
        watchSignal.signal()
    }

    func finishFailed(_ id: Int64, error: String, detail: String?, requestSent: Bool, _ log: JobLog) async {
        let now = clock.now()
        let done: Void? = await record(id, log) {
            try await self.store.fail(id: id, error: error, detail: detail, requestSent: requestSent, now: now)
        }
        if done != nil {
            state.withLock { $0.failed += 1 }
            publishStatus()
        }
    }

    /// Runs a store write that must not be lost: shielded from cancellation, and retried with
    /// backoff while the database is locked by another process or its disk is full, until it
    /// lands (while the engine stops: until the grace period is over). Returns what the write
    /// returned, or nil if it could not be written.
    @discardableResult
    func record<T: Sendable>(_ id: Int64, _ log: JobLog, _ write: @escaping @Sendable () async throws -> T) async -> T? {
        state.withLock { $0.unwritten += 1 }
        let value = await Task(executorPreference: taskExecutor) {
            var failures = 0
            while true {
                do {
                    let value = try await write()
                    if failures > 0 { self.writeLanded() }
                    return Optional(value)
                } catch let error as StoreError where error.isTemporary {
                    failures += 1
                    let stoppedAt = self.state.withLock { $0.stopStartedAt }
                    if let stoppedAt, self.clock.now() > stoppedAt.addingTimeInterval(self.configuration.gracePeriod) {
                        log.error(
                            "job \(id): could not record its state before stopping (\(error)); \(log.remoteId.map { "it is Legnext job \($0), " } ?? "")the next start settles it from what the queue holds"
                        )
                        return nil
                    }
                    self.writeFailed(error, id, log, failures: failures)
                    let delay = min(30, 0.2 * pow(2, Double(min(failures, 8) - 1)))
                    try? await self.clock.sleep(until: self.clock.now().addingTimeInterval(delay))
                } catch {
                    log.error("job \(id): cannot record its state: \(error)")
                    return nil
                }
            }
        }.value
        state.withLock { $0.unwritten -= 1 }
        return value
    }

    /// Says a failing write once: a full disk once for the whole daemon (and in the status
    /// line), a lock held by another process at each doubling of one write's failures.
    private func writeFailed(_ error: StoreError, _ id: Int64, _ log: JobLog, failures: Int) {
        if case .diskFull = error {
            diskFull(error)
        } else if failures & (failures - 1) == 0 {
            log.warning("job \(id): database busy (\(failures) time(s)); retrying the write")
        }
    }

    func diskFull(_ error: StoreError) {
        if diskAlarm.raise(.queue, "\(error)") {
            logger.error("disk full: \(error); what the daemon learns is kept and written as soon as space is back")
            publishStatus()
        }
    }

    func writeLanded() {
        if diskAlarm.clear(.queue) {
            logger.notice("the queue can be written again; the writes that waited are landing")
            publishStatus()
        }
    }
}

extension Job {
    /// The request this row sends (short of its callback URL), by the rules every writer's row
    /// is held to; `parentRemoteJobId` is its parent's Legnext id.
    func request(parentRemoteJobId: String?) throws(RequestValidationError) -> LegnextRequest {
        try LegnextRequest.job(
            kind: kind,
            prompt: prompt,
            params: LegnextRequest.jobParams(params),
            hasParent: parentId != nil,
            parentRemoteJobId: parentRemoteJobId
        )
    }
}
