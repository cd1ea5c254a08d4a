import Foundation
import LegnextAPI
import QueueStore

/// Settling uncertain jobs by looking at Legnext's running jobs: the engine's side, the looks,
/// the GETs and the writes. What each look means for a job, and its verdict, is decided by its
/// ``UncertainJobSettlement``.
extension QueueEngine {
    /// Starts settling uncertain `job` (its POST left at `sentAt`; by `answeredAt` its fate was
    /// sealed: no job it makes can appear later). Without `autoSettle` nothing happens and the
    /// job waits for a person as before; where the server is known to have no `active_tasks`,
    /// the settle loop tells the job so at once.
    func beginSettling(_ job: Job, sentAt: Date, answeredAt: Date) {
        guard configuration.autoSettle else { return }
        state.withLock { state in
            state.settling[job.id] = UncertainJobSettlement(
                id: job.id,
                kind: job.kind,
                fingerprint: job.submissionFingerprint,
                sentAt: sentAt,
                answeredAt: answeredAt
            )
        }
        settleSignal.signal()
    }

    /// How long after a POST's failure Legnext may still make its job: a server (or a gateway's
    /// backend) may go on with a request whose client gave up or vanished. Twice the slowest
    /// answer seen, and 1 s before any is seen.
    func sealMargin() -> TimeInterval {
        state.withLock { max(0.05, 2 * ($0.slowestAnswer ?? 0.5)) }
    }

    /// Notes how long a POST took to be answered.
    func noteAnswer(after seconds: TimeInterval) {
        state.withLock { $0.slowestAnswer = max($0.slowestAnswer ?? 0, seconds) }
    }

    /// The server has no list of running jobs: every job being settled waits for a person, and
    /// its events say why.
    private func leaveSettlingForAPerson() async {
        let left = state.withLock { state -> [Int64] in
            defer { state.settling = [:] }
            return state.settling.keys.sorted()
        }
        logger.notice(
            "Legnext has no GET /account/active_tasks (HTTP 404): \(left.count) uncertain job(s) wait for a person (`legnext-queue retry` or `cancel`)"
        )
        for id in left {
            let why =
                "still uncertain: Legnext has no list of running jobs (active_tasks) to settle it by; `legnext-queue retry` resends it, `cancel` settles it"
            await recordNote(id, why, JobLog(logger, id: id, remoteId: nil))
        }
    }

    /// Looks at Legnext's running jobs while any job is being settled; one look serves them all.
    func settleLoop() async {
        var failures = 0
        while !isStopping {
            let (idle, listMissing) = state.withLock { ($0.settling.isEmpty, $0.hasActiveTasks == false) }
            // The watch may have found the list missing after a job began settling: say so on it.
            if !idle, listMissing {
                await leaveSettlingForAPerson()
                continue
            }
            if idle || listMissing {
                await clock.wait(for: settleSignal, until: clock.now().addingTimeInterval(3600))
                continue
            }
            guard let ticket = try? await limiter.acquire(.poll) else { return }
            let lookStarted = clock.now()
            let outcome = await legnext.activeTasks()
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request(account: route.name, "GET /account/active_tasks", outcome)
            let answered = clock.now()
            var gap = UncertainJobSettlement.longestLookGap
            switch outcome {
            case .success(let active):
                failures = 0
                state.withLock { $0.hasActiveTasks = true }
                await examine(active, lookStarted: lookStarted, answered: answered)
                gap = nextLookGap(now: answered)
            case .rejected(let failure) where failure.httpStatus == 404:
                state.withLock { $0.hasActiveTasks = false }
                await leaveSettlingForAPerson()
                continue
            default:
                failures += 1
                // Backing off, but not past the closing of a window: a look that fails proves nothing.
                gap = min(configuration.retries.delay(attempt: failures), nextLookGap(now: answered))
                logger.info("looking at Legnext's running jobs failed (\(outcome)); looking again in \(String(format: "%.1f", gap))s")
                await concludeOverdue(now: answered)
            }
            // A job that just became uncertain cuts the wait short: its first look is what proves most.
            await clock.wait(for: settleSignal, until: clock.now().addingTimeInterval(gap))
        }
    }

    /// The wait before the next look: the shortest any job being settled wants.
    private func nextLookGap(now: Date) -> TimeInterval {
        let gaps = state.withLock { state in
            let seen = state.planner.shortestDurations
            return state.settling.values.map {
                $0.nextLookGap(now: now, window: UncertainJobSettlement.window(kind: $0.kind, shortestDurations: seen))
            }
        }
        let longest = UncertainJobSettlement.longestLookGap
        return min(longest, max(0.05, gaps.min() ?? longest))
    }

    /// One look: each job being settled (oldest POST first) adopts a running job that is its own,
    /// or learns that none is; a job whose window has passed gets its verdict.
    private func examine(_ active: LegnextActiveTasks, lookStarted: Date, answered: Date) async {
        let ids = active.tasks.map(\.jobId)
        // Unknown which are ours: no verdict this look.
        guard var held = await logged("tell which running Legnext jobs the queue holds", { try await store.heldRemoteIds(ids) }) else { return }
        let (jobs, sending) = state.withLock { state in
            held.formUnion(state.inFlight.values.map(\.remoteJobId))
            let jobs = state.settling.values.sorted { ($0.sentAt, $0.id) < ($1.sentAt, $1.id) }
            return (jobs, Set(state.unanswered.values.map(\.submissionFingerprint)))
        }
        var fetched: [String: LegnextJob?] = [:]
        for job in jobs {
            // A POST of the same request still under way may have made any running job like it.
            if sending.contains(job.fingerprint) { continue }
            let log = JobLog(logger, id: job.id, remoteId: nil)
            var unverified = false
            var ruledOut: Set<String> = []
            var settled = false
            for candidate in job.candidates(among: active.tasks, held: held) {
                // One try per look: the next look tries again, and no job waits behind a backoff here.
                if fetched[candidate.jobId] == nil { fetched[candidate.jobId] = .some(await confirmingGet(candidate.jobId, log, attempts: 1)) }
                guard let remote = fetched[candidate.jobId] ?? nil else {
                    unverified = true
                    continue
                }
                switch await adoptIfOurs(job.id, remote, source: "found among Legnext's running jobs (active_tasks)", log) {
                case .adopted:
                    held.insert(candidate.jobId)
                    settled = true
                case .notOurs: ruledOut.insert(candidate.jobId)
                case .moot: settled = true  // no longer uncertain: nothing left to settle
                }
                if settled { break }
            }
            state.withLock { state in
                if settled {
                    state.settling[job.id] = nil
                } else {
                    state.settling[job.id]?.lookFoundNothing(ruledOut: ruledOut, unverified: unverified, lookStarted: lookStarted, answered: answered)
                }
            }
        }
        await concludeOverdue(now: answered)
    }

    /// Carries out the verdict of each job whose window has passed: resent when a look proved
    /// its POST made nothing, else left uncertain for a person, with the reason.
    private func concludeOverdue(now: Date) async {
        let verdicts = state.withLock { state in
            let seen = state.planner.shortestDurations
            let due = state.settling.values.compactMap { job in
                job.verdict(now: now, window: UncertainJobSettlement.window(kind: job.kind, shortestDurations: seen)).map { (job.id, $0) }
            }
            for (id, _) in due { state.settling[id] = nil }
            return due
        }
        for (id, verdict) in verdicts {
            let log = JobLog(logger, id: id, remoteId: nil)
            switch verdict {
            case .leave(let why):
                log.notice("job \(id) \(why)")
                await recordNote(id, why, log)
            case .resend(let evidence):
                let resent: Bool? = await record(id, log) { try await self.store.resendUncertain(id: id, evidence: evidence, now: now) }
                if resent == true {
                    log.notice("job \(id) \(evidence)")
                    workSignal.signal()
                }
            }
        }
    }
}
extension Job {
    /// What a submission of this row sends, short of its callback URL: rows alike here send the
    /// same request, so a running job made by one cannot be told from one made by another.
    var submissionFingerprint: String {
        [kind, prompt ?? "", params, parentId.map(String.init) ?? ""].joined(separator: "\u{0}")
    }
}
