import Foundation
import LegnextAPI
import QueueStore

/// Settling uncertain jobs by looking. A POST whose answer was lost may or may not have made a
/// Legnext job; if it did, that job runs for at least the shortest plausible time of its kind
/// and `GET /account/active_tasks` lists it meanwhile, under an id no row holds. So the settler
/// looks: a running job of that kind, created after the POST left, whose `input` (read with a
/// GET) is this row's, is adopted; if a look begun after the POST's fate was sealed and answered
/// within the window shows none, the POST made nothing and the job is sent again.
extension QueueEngine {
    /// How far Legnext's clock (`created_at`) may be from ours.
    static let settleClockSkew: TimeInterval = 2
    /// Without proof of absence, a job is looked for until this many windows after its POST:
    /// four times the shortest job, past the longest the documented ranges allow (three times).
    static let settleHorizon: Double = 8
    /// The longest wait between two looks while jobs are being settled.
    static let settleLookGap: TimeInterval = 5

    /// Starts settling uncertain `job` (its POST left at `sentAt`; by `answeredAt` its fate was
    /// sealed: no job it makes can appear later). Without `autoSettle`, or where the server has
    /// no `active_tasks`, nothing happens and the job waits for a person as before.
    func beginSettling(_ job: Job, sentAt: Date, answeredAt: Date) {
        guard configuration.autoSettle else { return }
        let started = state.withLock { state -> Bool in
            guard state.hasActiveTasks != false else { return false }
            state.settling[job.id] = .init(
                id: job.id,
                kind: job.kind,
                fingerprint: job.submissionFingerprint,
                sentAt: sentAt,
                answeredAt: answeredAt
            )
            return true
        }
        if started { settleSignal.signal() }
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

    /// The window in which a job made by a lost POST of `kind` must still be running: half the
    /// shortest duration seen of that kind; before one is seen, the documented prior, scaled
    /// down by what the kinds seen so far showed (a server whose diffusions end in a second runs
    /// its upscales in seconds too).
    func settleWindow(kind: String) -> TimeInterval {
        state.withLock { Self.settleWindow(kind: kind, $0.planner) }
    }

    static func settleWindow(kind: String, _ planner: PollPlanner) -> TimeInterval {
        func prior(_ kind: String) -> Double { LegnextKind(rawValue: kind)?.shortestPlausibleSeconds ?? 10 }
        let seen = planner.shortestDurations
        if let shortest = seen[kind] { return min(prior(kind), shortest / 2) }
        let scale = seen.map { min(1, $0.value / 2 / prior($0.key)) }.min() ?? 1
        return prior(kind) * scale
    }

    /// Looks at Legnext's running jobs while any job is being settled; one look serves them all.
    func settleLoop() async {
        var failures = 0
        while !isStopping {
            let waiting = state.withLock { $0.settling.isEmpty || $0.hasActiveTasks == false }
            if waiting {
                await clock.wait(for: settleSignal, until: clock.now().addingTimeInterval(3600))
                continue
            }
            guard let ticket = try? await limiter.acquire(.poll) else { return }
            let lookStarted = clock.now()
            let outcome = await legnext.activeTasks()
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request("GET /account/active_tasks", outcome)
            let answered = clock.now()
            var gap = Self.settleLookGap
            switch outcome {
            case .success(let active):
                failures = 0
                state.withLock { $0.hasActiveTasks = true }
                await examine(active, lookStarted: lookStarted, answered: answered)
                gap = nextLookGap(now: answered)
            case .rejected(let failure) where failure.httpStatus == 404:
                let left = state.withLock { state -> [Int64] in
                    state.hasActiveTasks = false
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

    /// Just after a job's POST is sealed; then within its window a quarter of what is left, so it
    /// gets several looks before its verdict; past it (still looking for its job), one per window.
    private func nextLookGap(now: Date) -> TimeInterval {
        let gaps = state.withLock { state in
            state.settling.values.map { job -> TimeInterval in
                let window = Self.settleWindow(kind: job.kind, state.planner)
                // The look that can prove most comes just after the POST's fate is sealed.
                let sealed = job.answeredAt.timeIntervalSince(now)
                if sealed > 0 { return sealed + 0.01 }
                let left = job.sentAt.addingTimeInterval(window).timeIntervalSince(now)
                return left > 0 ? left / 4 : window
            }
        }
        return min(Self.settleLookGap, max(0.05, gaps.min() ?? Self.settleLookGap))
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
            let candidates = active.tasks.filter { task in
                guard !held.contains(task.jobId), !job.ruledOut.contains(task.jobId), Self.sameKind(task.taskType, job.kind) else { return false }
                guard let created = task.createdAt else { return true }
                return created >= job.sentAt.addingTimeInterval(-Self.settleClockSkew)
                    && created <= job.answeredAt.addingTimeInterval(Self.settleClockSkew)
            }
            var unverified = false
            var ruledOut: Set<String> = []
            var settled = false
            for candidate in candidates.sorted(by: { ($0.createdAt ?? .distantPast) < ($1.createdAt ?? .distantPast) }) {
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
            // Nothing of ours in a look begun after the POST's fate was sealed: had it made a job,
            // that job was running then, if the look came within the window (judged at the verdict,
            // with what is known by then).
            let absent = !settled && !unverified && lookStarted >= job.answeredAt
            state.withLock { state in
                if settled {
                    state.settling[job.id] = nil
                } else {
                    state.settling[job.id]?.looks += 1
                    state.settling[job.id]?.ruledOut.formUnion(ruledOut)
                    if absent, state.settling[job.id]?.firstAbsentLook == nil { state.settling[job.id]?.firstAbsentLook = answered }
                }
            }
        }
        await concludeOverdue(now: answered)
    }

    /// Gives each job whose window has passed its verdict: resent when a look proved its POST
    /// made nothing, else left uncertain for a person, with the reason.
    private func concludeOverdue(now: Date) async {
        let overdue = state.withLock { state in
            state.settling.values.compactMap { job -> (EngineState.Settling, TimeInterval)? in
                let window = Self.settleWindow(kind: job.kind, state.planner)
                guard now >= job.sentAt.addingTimeInterval(window) else { return nil }
                let proven = job.firstAbsentLook.map { $0 < job.sentAt.addingTimeInterval(window) } ?? false
                // Without proof, keep looking while a job the POST made could still be running.
                if !proven, now < job.sentAt.addingTimeInterval(window * Self.settleHorizon) { return nil }
                return (job, window)
            }
        }
        for (job, window) in overdue {
            state.withLock { _ = $0.settling.removeValue(forKey: job.id) }
            let log = JobLog(logger, id: job.id, remoteId: nil)
            let seconds = String(format: "%.1f", now.timeIntervalSince(job.sentAt))
            guard let absent = job.firstAbsentLook, absent < job.sentAt.addingTimeInterval(window) else {
                let sealed = String(format: "%.1f", job.answeredAt.timeIntervalSince(job.sentAt))
                let why =
                    "still uncertain: no look at Legnext's running jobs could prove its POST made none (such a look must come after Legnext is surely done with the POST, \(sealed)s after it left, and while a job it made would still run, within \(String(format: "%.1f", window))s; \(job.looks) looks), and none was its own for \(seconds)s; `legnext-queue retry` resends it, `cancel` settles it"
                log.notice("job \(job.id) \(why)")
                await recordNote(job.id, why, log)
                continue
            }
            let evidence =
                "not created: no job of ours among Legnext's running jobs (active_tasks) for \(seconds)s after the POST (\(job.looks) looks; a \(job.kind) runs longer), so it is sent again"
            let resent: Bool? = await record(job.id, log) { try await self.store.resendUncertain(id: job.id, evidence: evidence, now: now) }
            if resent == true {
                log.notice("job \(job.id) \(evidence)")
                workSignal.signal()
            }
        }
    }

    /// `task_type` as Legnext writes it (`video_diffusion` or `video-diffusion`) against a kind.
    static func sameKind(_ taskType: String?, _ kind: String) -> Bool {
        guard let taskType else { return true }
        return taskType.lowercased().replacingOccurrences(of: "_", with: "-") == kind
    }
}

extension Job {
    /// What a submission of this row sends, short of its callback URL: rows alike here send the
    /// same request, so a running job made by one cannot be told from one made by another.
    var submissionFingerprint: String {
        [kind, prompt ?? "", params, parentId.map(String.init) ?? ""].joined(separator: "\u{0}")
    }
}
