import Foundation
import LegnextAPI
import QueueStore

/// Following in-flight jobs through Legnext's list of running jobs: the engine's side, the
/// looks and what they set off. What a look means is read by ``RunningJobsWatch``.
extension QueueEngine {
    /// Whether job `id` is followed through the list (else polled on its own schedule): only
    /// once a look was answered, so no job waits on a safety-net poll for a list that is missing.
    func watches(_ state: EngineState, _ id: Int64) -> Bool {
        configuration.watchRunningJobs && configuration.callbackBaseURL == nil && state.hasActiveTasks == true
            && state.watch.watches(id)
    }

    /// Looks at Legnext's running jobs while jobs are in flight, when each look asks for the
    /// next; a job the list shows ended is polled at once. Returns when the server has no list
    /// (its jobs' polls then go back to the plan), or callbacks tell of ends instead.
    func watchLoop() async {
        guard configuration.watchRunningJobs, configuration.callbackBaseURL == nil else { return }
        var failures = 0
        // Nil: look as soon as a job is in flight.
        var nextLook: Date?
        // The jobs the last look was for: one followed since is looked for by its first look.
        var known: Set<Int64> = []
        while !isStopping {
            let (followed, firstLook) = state.withLock { state -> ([RunningJobsWatch.Followed]?, Date?) in
                guard state.hasActiveTasks != false else { return (nil, nil) }
                let jobs = state.inFlight.values.filter { !$0.isEnded && state.watch.watches($0.id) }
                let first = jobs.filter { !known.contains($0.id) }.map {
                    RunningJobsWatch.firstLook(followedAt: $0.submittedAt, typical: state.planner.typicalDuration(kind: $0.kind))
                }.min()
                return (
                    jobs.map { RunningJobsWatch.Followed(id: $0.id, remoteJobId: $0.remoteJobId, kind: $0.kind, followedAt: $0.submittedAt) }, first
                )
            }
            guard let followed else { return await listGone() }
            let now = clock.now()
            if followed.isEmpty {
                nextLook = nil
                await clock.wait(for: watchSignal, until: now.addingTimeInterval(3600))
                continue
            }
            if let first = firstLook, let at = nextLook { nextLook = min(at, first) }
            if let at = nextLook, now < at {
                await clock.wait(for: watchSignal, until: at)
                continue
            }
            known = Set(followed.map(\.id))
            guard let ticket = try? await limiter.acquire(.poll) else { return }
            let lookStarted = clock.now()
            let outcome = await legnext.activeTasks()
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request(account: route.name, "GET /account/active_tasks", outcome)
            if Task.isCancelled { return }
            let answered = clock.now()
            switch outcome {
            case .success(let list):
                failures = 0
                nextLook = await read(list, followed: followed, lookStarted: lookStarted, answered: answered)
            case .rejected(let failure) where failure.httpStatus == 404:
                state.withLock { $0.hasActiveTasks = false }
                return await listGone()
            case .rateLimited(let retryAfter, _):
                nextLook = answered.addingTimeInterval(retryAfter?.seconds ?? 1)
            default:
                // Each job's safety-net poll still comes; the list is tried again, backing off.
                failures += 1
                let wait = min(RunningJobsWatch.ceiling, configuration.retries.delay(attempt: failures))
                logger.info("looking at Legnext's running jobs failed (\(outcome)); looking again in \(String(format: "%.1f", wait))s")
                nextLook = answered.addingTimeInterval(wait)
            }
        }
    }

    /// Feeds one look to the watch and carries out what it showed; returns the next look's time.
    private func read(_ list: LegnextActiveTasks, followed: [RunningJobsWatch.Followed], lookStarted: Date, answered: Date) async -> Date {
        let reading = state.withLock { state in
            state.hasActiveTasks = true
            let planner = state.planner
            return state.watch.read(list, followed: followed, lookStarted: lookStarted, answered: answered) {
                planner.typicalDuration(kind: $0)
            }
        }
        for id in reading.ended {
            await carryOut(id, event: { job, _ in job.pollSooner(at: answered) }, JobLog(logger, id: id, remoteId: nil))
        }
        for (id, status) in reading.progressed.sorted(by: { $0.key < $1.key }) {
            await carryOut(id, event: { job, _ in job.listed(status, now: answered) }, countsRequest: false, JobLog(logger, id: id, remoteId: nil))
        }
        return reading.nextLook
    }

    /// The server has no list of running jobs: each job's poll comes back to the plan's time.
    private func listGone() async {
        let now = clock.now()
        let ids = state.withLock { state in Array(state.inFlight.keys).sorted() }
        logger.notice("Legnext has no GET /account/active_tasks: each in-flight job is polled on its own")
        for id in ids {
            await carryOut(
                id,
                event: { job, scheduler in
                    let planned = self.nextPoll(scheduler, kind: job.kind, submittedAt: job.submittedAt, polls: job.polls, now: now, watched: false)
                    return job.pollSooner(at: planned)
                },
                JobLog(logger, id: id, remoteId: nil)
            )
        }
    }
}
