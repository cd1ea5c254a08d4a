import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

/// What the engine made of a callback (for the receiver's answer and log line).
public enum CallbackDisposition: Sendable, Hashable {
    /// The job is polled at once to confirm what the callback says.
    case confirming
    /// A late callback named a Legnext job for an uncertain job; a GET will settle it.
    case settling
    /// Nothing to do; the reason says why.
    case noted(String)
    /// The callback contradicts what we know (another remote job); nothing changed.
    case mismatch(String)
}

/// What takes a callback: an engine, or a pool of them (which hands it to the job's account).
public protocol CallbackHandling: Sendable {
    /// A callback for `target` arrived (its token already checked): what the engine makes of it.
    func callbackArrived(_ target: CallbackTarget, remoteJobId: String?, status: String?) -> CallbackDisposition
}

extension EnginePool: CallbackHandling {}

extension QueueEngine: CallbackHandling {
    /// The callback URL a submission of job `id` carries, or nil with callbacks off.
    func callbackURL(_ id: Int64, token: String?) -> String? {
        guard let base = configuration.callbackBaseURL, let token else { return nil }
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/legnext/\(id)/\(token)"
    }

    /// The next poll of a job seen unfinished `now`: the shared scheduler's time, or with
    /// callbacks on (or the job `watched` in Legnext's list of running jobs) a later safety-net
    /// time from the planner's plan, stretched: the callback or the list is what normally tells
    /// of its end.
    func nextPoll(_ scheduler: PollScheduler, kind: String, submittedAt: Date, polls: Int, now: Date, watched: Bool) -> Date {
        guard configuration.callbackBaseURL != nil || watched else {
            return scheduler.nextPoll(kind: kind, submittedAt: submittedAt, seen: now, polls: polls, now: now, rate: limiter.currentRate)
        }
        let planner = scheduler.planner
        let planned = planner.nextPoll(kind: kind, submittedAt: submittedAt, polls: polls, now: now)
        guard planner.hasLearned(kind: kind) else {
            let safety = submittedAt.addingTimeInterval(configuration.callbackSafetyInterval * Double(polls + 1))
            return max(safety, now.addingTimeInterval(planner.floor))
        }
        return max(planned, submittedAt.addingTimeInterval(planned.timeIntervalSince(submittedAt) * configuration.callbackPollStretch))
    }

    /// A callback for `target` arrived (its token already checked). Its body is a hint, never
    /// the truth: at most it makes the engine ask Legnext now, through the rate limiter.
    ///
    /// - Parameters:
    ///   - remoteJobId: the `job_id` the body names, if any.
    ///   - status: the `status` the body names, if any.
    public func callbackArrived(_ target: CallbackTarget, remoteJobId: String?, status: String?) -> CallbackDisposition {
        // A job sent with another account is that account's to confirm: this key cannot read it.
        guard target.state == .queued || route.owns(target.remoteAccount) else {
            return .noted("job \(target.id) was sent with account \(route.owner(target.remoteAccount)), which this daemon does not run")
        }
        let now = clock.now()
        let terminal = status.map { $0 == "completed" || $0 == "failed" } ?? true
        let tracked = state.withLock { state -> (known: String, queued: Bool)? in
            guard let known = state.inFlight[target.id]?.remoteJobId else { return nil }
            guard remoteJobId == nil || remoteJobId == known, terminal else { return (known, false) }
            let moved = state.event(target.id) { job, _ in job.finishedByCallback(now: now) }
            return (known, moved?.actions.isEmpty == false)
        }
        if let tracked {
            if let remoteJobId, remoteJobId != tracked.known {
                return .mismatch("the callback names Legnext job \(remoteJobId), but job \(target.id) is \(tracked.known)")
            }
            guard tracked.queued else { return .noted(terminal ? "a poll is already due" : "progress (\(status ?? "?")) noted") }
            pollSignal.signal()
            return .confirming
        }
        if target.state == .submitting {
            let underWay = state.withLock { state -> Bool in
                // Kept only while its POST is under way here: taken or dropped as the POST ends.
                guard state.posting[target.id] != nil else { return false }
                var early = state.earlyCallbacks[target.id] ?? EarlyCallback()
                early.remoteJobId = remoteJobId ?? early.remoteJobId
                early.finished = early.finished || terminal
                state.earlyCallbacks[target.id] = early
                return true
            }
            if underWay { return .noted("the submission's answer is not recorded yet" + (terminal ? "; polled as soon as it is" : "")) }
            // The POST ended while this was read. Had its answer been lost, the job is uncertain
            // now and the Legnext job named is the evidence; otherwise confirming it is moot.
            if let remoteJobId { return confirmNamed(target.id, remoteJobId: remoteJobId) }
        }
        if target.state == .uncertain, let remoteJobId {
            return confirmNamed(target.id, remoteJobId: remoteJobId)
        }
        if let remoteJobId, let known = target.remoteJobId, remoteJobId != known {
            return .mismatch("the callback names Legnext job \(remoteJobId), but job \(target.id) is \(known)")
        }
        return .noted("job \(target.id) is \(target.state.rawValue)")
    }

    /// Has the Legnext job a callback named for job `id` confirmed, and tells its settling that
    /// a job was named: while that one is not ruled out, no look's proof of absence resends it.
    func confirmNamed(_ id: Int64, remoteJobId: String) -> CallbackDisposition {
        state.withLock { _ = $0.settling[id]?.named.insert(remoteJobId) }
        let handed = extraWork.withLock { $0?.yield(.confirm(id, remoteJobId: remoteJobId)) }
        guard case .enqueued = handed else { return .noted("the daemon is stopping") }
        return .settling
    }

    /// Asks Legnext about the remote job a callback named for an uncertain job, and adopts it
    /// if it is this job's (``adoptIfOurs(_:_:source:_:)``).
    func confirmUncertain(_ id: Int64, remoteJobId: String) async {
        let log = JobLog(logger, id: id, remoteId: remoteJobId)
        guard let remote = await confirmingGet(remoteJobId, log) else {
            log.notice("job \(id) stays uncertain: Legnext did not confirm job \(remoteJobId) named by a callback")
            return
        }
        if await adoptIfOurs(id, remote, source: "named by a callback", log) == .notOurs {
            state.withLock { $0.settling[id]?.namedRuledOut(remoteJobId) }
        }
    }

    /// What ``adoptIfOurs(_:_:source:_:)`` decided.
    enum AdoptionResult: Sendable, Equatable {
        case adopted
        /// Not this job's: another row holds it, or its input differs.
        case notOurs
        /// The job is no longer uncertain, or its row cannot be read or written now.
        case moot
    }

    /// Adopts Legnext job `remote` (read with our key) as uncertain job `id`'s only if it is ours
    /// beyond doubt: its `input` is what this row sends and no other row holds it. `source` says
    /// where its id came from, for the job's events and the log.
    func adoptIfOurs(_ id: Int64, _ remote: LegnextJob, source: String, _ log: JobLog) async -> AdoptionResult {
        let remoteJobId = remote.jobId
        let submission: UncertainSubmission?
        do {
            submission = try await store.uncertainSubmission(id: id)
        } catch {
            log.warning("job \(id) stays uncertain: cannot read its row to compare with Legnext job \(remoteJobId): \(error)")
            return .moot
        }
        guard let submission else { return .moot }
        // Its input is this row's, but an earlier attempt's job (one a retry left behind) is not
        // the one this attempt's lost POST made. Made before this attempt was claimed, by more
        // than the settling looks' clock allowance or half the time between the two claims.
        if let created = remote.createdAt, let claimed = submission.claimedAt, let previous = submission.previousClaimAt,
            created < claimed.addingTimeInterval(-max(UncertainJobSettlement.clockSkew, claimed.timeIntervalSince(previous) / 2))
        {
            let why =
                "not adopting Legnext job \(remoteJobId) \(source): it was made at \(Timestamp.format(created)), before this attempt was sent (\(Timestamp.format(claimed))), so it is an earlier attempt's"
            log.notice("job \(id) stays uncertain: \(why)")
            await recordNote(id, why, log)
            return .notOurs
        }
        if let mismatch = inputMismatch(submission, remote) {
            let why = "not adopting Legnext job \(remoteJobId) \(source): its input is not this job's (\(mismatch))"
            log.notice("job \(id) stays uncertain: \(why)")
            await recordNote(id, why, log)
            return .notOurs
        }
        let now = clock.now()
        let kind = submission.job.kind
        let next = state.withLock { nextPoll($0.scheduler, kind: kind, submittedAt: now, polls: 0, now: now, watched: watches($0, id)) }
        // Not shielded like other writes: if this one is lost, the job simply stays uncertain.
        let adoption: QueueStore.Adoption
        do {
            adoption = try await store.adoptRemote(
                id: id,
                remoteJobId: remoteJobId,
                status: remote.status,
                evidence: "settled: Legnext job \(remoteJobId) \(source), and a GET showed this job's input",
                nextPollAt: next,
                now: now
            )
        } catch {
            log.warning("job \(id) stays uncertain: cannot record Legnext job \(remoteJobId): \(error)")
            return .moot
        }
        switch adoption {
        case .adopted: break
        case .notUncertain: return .moot
        case .heldBy(let other):
            let why = "not adopting Legnext job \(remoteJobId) \(source): it is job \(other)'s"
            log.notice("job \(id) stays uncertain: \(why)")
            await recordNote(id, why, log)
            return .notOurs
        }
        log.info("job \(id) settled: Legnext job \(remoteJobId) \(source) is its own; following it")
        state.withLock { state in
            state.settling[id] = nil
            state.follow(id, kind: kind, remoteJobId: remoteJobId, status: remote.status, submittedAt: now, next: next)
        }
        pollSignal.signal()
        watchSignal.signal()
        if remote.status.isFinal { await applyPolled(id, remote, now: now) }
        return .adopted
    }

    /// The GET that confirms a Legnext job, tried again (with backoff, at most
    /// ``confirmAttempts`` times) while it fails for a passing reason: one lost answer must not
    /// leave a paid job unclaimed.
    func confirmingGet(_ remoteJobId: String, _ log: JobLog, attempts: Int = confirmAttempts) async -> LegnextJob? {
        for attempt in 1...attempts {
            guard !isStopping, let ticket = try? await limiter.acquire(.poll) else { return nil }
            let outcome = await legnext.job(id: remoteJobId)
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request(account: route.name, "GET /v1/job", outcome)
            switch outcome {
            case .success(let remote): return remote.jobId == remoteJobId ? remote : nil
            case .rejected, .account: return nil
            case .transient, .rateLimited:
                guard attempt < attempts else { return nil }
                log.info("confirming Legnext job \(remoteJobId) failed (\(outcome)); trying again")
                try? await clock.sleep(until: clock.now().addingTimeInterval(configuration.retries.delay(attempt: attempt)))
            }
        }
        return nil
    }

    static let confirmAttempts = 6

    /// Why Legnext job `remote` is not the one this submission made, or nil when its input matches.
    private func inputMismatch(_ submission: UncertainSubmission, _ remote: LegnextJob) -> String? {
        let request: LegnextRequest
        do {
            request = try submission.job.request(parentRemoteJobId: submission.parentRemoteJobId)
        } catch {
            return "the row no longer makes a request: \(error)"
        }
        return request.inputMismatch(remote.extra["input"])
    }

    /// A decision about a job that changes nothing in its row, for a person reading `job_events`.
    func recordNote(_ id: Int64, _ detail: String, _ log: JobLog) async {
        let now = clock.now()
        await record(id, log) { try await self.store.addEvent(id: id, detail: detail, now: now) }
    }
}
