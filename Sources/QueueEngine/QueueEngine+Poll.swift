import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

extension QueueEngine {
    /// Hands each in-flight job to a poll request when its time comes.
    func pollLoop(_ queue: AsyncStream<Work>.Continuation) async {
        while !isStopping {
            let now = clock.now()
            if diskAlarm.isRaised(.queue) {
                // Nothing a poll learns could be written: wait for space instead of asking.
                try? await clock.sleep(until: now.addingTimeInterval(2))
                continue
            }
            let (due, next) = state.withLock { state -> ([Int64], Date?) in
                var due: [Int64] = []
                while let earliest = state.polls.earliest, earliest <= now, let entry = state.polls.pop() {
                    // Entries of ended jobs and of earlier schedules are stale: the lifecycle skips them.
                    if state.inFlight[entry.id]?.pollDue(scheduledAt: entry.at) == true { due.append(entry.id) }
                }
                return (due, state.polls.earliest)
            }
            for id in due { queue.yield(.poll(id)) }
            await clock.wait(for: pollSignal, until: next ?? now.addingTimeInterval(3600))
        }
    }

    /// Asks Legnext about one job and records the answer.
    func poll(_ id: Int64) async {
        guard let tracked = state.withLock({ $0.inFlight[id] }) else { return }
        let log = JobLog(logger, id: id, remoteId: tracked.remoteJobId)
        if isStopping { return }
        let ticket: RateLimiter.Ticket
        do {
            ticket = try await limiter.acquire(.poll)
        } catch {
            return
        }
        state.withLock { $0.scheduler.polled(at: ticket.sentAt) }
        let outcome = await legnext.job(id: tracked.remoteJobId)
        limiter.finished(ticket, outcome.budgetResult)
        EngineMetrics.request(account: route.name, "GET /v1/job", outcome)
        if Task.isCancelled { return }  // cut off by shutdown: the job is polled again after a restart
        let now = clock.now()
        let jitter = Double.random(in: 0..<1)
        switch outcome {
        case .success(let remote):
            await applyPolled(id, remote, now: now)
        case .rejected(let failure):
            await carryOut(id, event: { job, _ in job.unknownToLegnext("\(failure)") }, detail: failure.error.json.jsonText, log)
        case .account(let failure):
            pause(for: failure, kind: tracked.kind)
            await carryOut(id, event: { job, _ in job.pollFailed(.account, note: "poll refused: \(failure)", now: now, jitter: jitter) }, log)
        case .rateLimited(let retryAfter, _):
            await carryOut(
                id,
                event: { job, _ in job.pollFailed(.rateLimited(retryAfter: retryAfter?.seconds), note: nil, now: now, jitter: jitter) },
                log
            )
        case .transient(let failure):
            log.info("job \(id): poll failed: \(failure)")
            await carryOut(id, event: { job, _ in job.pollFailed(.transient, note: "poll failed: \(failure)", now: now, jitter: jitter) }, log)
        }
    }

    /// Applies a Job object from a poll (or a confirming GET).
    func applyPolled(_ id: Int64, _ remote: LegnextJob, now: Date) async {
        let log = JobLog(logger, id: id, remoteId: remote.jobId)
        let watched = state.withLock { state in
            state.watch.answered(id, ended: remote.status.isFinal)
            return watches(state, id)
        }
        await carryOut(
            id,
            event: { job, scheduler in
                let (kind, submittedAt) = (job.kind, job.submittedAt)
                return job.answered(remote.status, now: now) { polls in
                    self.nextPoll(scheduler, kind: kind, submittedAt: submittedAt, polls: polls, now: now, watched: watched)
                }
            },
            remote: remote,
            log
        )
    }

    /// Feeds one event to job `id`'s lifecycle and carries out what it returns: the schedule in
    /// memory at once, then the writes in order. A job whose end is written leaves the table
    /// after the write, so the engine is never idle while an end is unwritten. `countsRequest`:
    /// the event came from a request of this job's own (not a look at every running job).
    func carryOut(
        _ id: Int64,
        event: (inout RemoteJobLifecycle, PollScheduler) -> [RemoteJobLifecycle.Action],
        remote: LegnextJob? = nil,
        detail: String? = nil,
        countsRequest: Bool = true,
        _ log: JobLog
    ) async {
        guard let (job, actions) = state.withLock({ $0.event(id, event) }) else { return }
        let now = clock.now()
        for action in actions {
            switch action {
            case .schedulePoll:
                pollSignal.signal()
            case .releaseSlot(let note):
                log.warning("job \(id): \(note)")
                workSignal.signal()
                await record(id, log) { try await self.store.addEvent(id: id, detail: note, now: now) }
            case .recordStatus(let status, let next):
                let update = RemoteUpdate(status: status, countsRequest: countsRequest)
                let after = await record(id, log) { try await self.store.applyRemote(id: id, update: update, nextPollAt: next, now: now) }
                // Settled by a person meanwhile (`cancel --force`): stop following it.
                if let state = after ?? nil, !state.isInFlight {
                    untrack(id)
                    log.info("job \(id) is \(state.rawValue) in the queue; no longer following it")
                }
            case .recordProblem(let note, let next):
                await record(id, log) { try await self.store.recordRequestProblem(id: id, note: note, nextPollAt: next, now: now) }
            case .recordEnd:
                guard let remote else { continue }
                let update = finalUpdate(remote, countsRequest: true)
                let done: Void? = await record(id, log) { _ = try await self.store.applyRemote(id: id, update: update, nextPollAt: nil, now: now) }
                untrack(id)
                if done != nil { noteFinished(id, remote, kind: job.kind, submittedAt: job.submittedAt, polls: job.polls, now: now, log) }
            case .fail(let reason):
                log.warning("job \(id) failed: \(reason)")
                await finishFailed(id, error: reason, detail: detail, requestSent: true, log)
                untrack(id)
            }
        }
    }

    func untrack(_ id: Int64) {
        state.withLock { $0.untrack(id) }
        workSignal.signal()
    }

    /// What the store records of a finished Job object.
    func finalUpdate(_ remote: LegnextJob, countsRequest: Bool) -> RemoteUpdate {
        guard remote.status == .completed else {
            let error = remote.error?.summary ?? "Legnext reported the job failed"
            return RemoteUpdate(status: .failed, error: "Legnext: \(error)", errorDetail: remote.error?.json.jsonText, countsRequest: countsRequest)
        }
        var update = Self.completion(remote)
        update.downloadOutputs = configuration.downloadOutputs
        update.countsRequest = countsRequest
        return update
    }

    /// After a finished job is recorded: what it teaches the planner, metrics, counts, a log line.
    func noteFinished(_ id: Int64, _ remote: LegnextJob, kind: String, submittedAt: Date, polls: Int, now: Date, _ log: JobLog) {
        let reported = remote.endedAt.flatMap { end in remote.createdAt.map { end.timeIntervalSince($0) } }
        let lag = remote.endedAt.map { now.timeIntervalSince($0) }
        if remote.status == .completed {
            let duration = reported ?? now.timeIntervalSince(submittedAt)
            EngineMetrics.finished(account: route.name, state: "completed", kind: kind, duration: duration, lag: lag, credits: remote.usage?.consume)
            let lead = state.withLock { state -> PlanLead? in
                state.scheduler.record(kind: kind, duration: duration, polls: polls)
                state.completed += 1
                guard let lag, let typical = state.planner.typicalDuration(kind: kind), state.lead?.record(lag: lag, typical: typical) == true
                else { return nil }
                return state.lead
            }
            if let lead {
                logger.info(
                    "keeping \(lead.current) job(s) waiting in Legnext's queue beyond the plan's \(lead.plan): our completion lag (90th percentile \(String(format: "%.2f", lead.lagP90 ?? 0))s) covers that many ends"
                )
                workSignal.signal()
            }
            log.info("job \(id) completed in \(String(format: "%.1f", now.timeIntervalSince(submittedAt)))s")
        } else {
            EngineMetrics.finished(account: route.name, state: "failed", kind: kind, duration: reported, lag: lag, credits: nil)
            state.withLock { $0.failed += 1 }
            log.warning("job \(id) failed at Legnext: \(remote.error?.summary ?? "Legnext reported the job failed")")
        }
        publishStatus()
    }

    /// The store's view of a completed Job object: outputs, summary, credits.
    static func completion(_ remote: LegnextJob) -> RemoteUpdate {
        let output = remote.output
        var outputs: [JobOutput] = []
        var summary: [String: JSONValue] = [:]
        if let grid = output.imageURL {
            outputs.append(JobOutput(jobId: 0, kind: .grid, index: 0, url: grid))
            summary["image_url"] = .string(grid)
        }
        for (index, url) in output.imageURLs.enumerated() { outputs.append(JobOutput(jobId: 0, kind: .image, index: index, url: url)) }
        for (index, url) in output.videoURLs.enumerated() { outputs.append(JobOutput(jobId: 0, kind: .video, index: index, url: url)) }
        for (index, text) in output.texts.enumerated() { outputs.append(JobOutput(jobId: 0, kind: .text, index: index, text: text)) }
        if !output.imageURLs.isEmpty { summary["image_urls"] = .array(output.imageURLs.map(JSONValue.string)) }
        if !output.videoURLs.isEmpty { summary["video_urls"] = .array(output.videoURLs.map(JSONValue.string)) }
        if !output.texts.isEmpty { summary["texts"] = .array(output.texts.map(JSONValue.string)) }
        if let seed = output.seed { summary["seed"] = .string(seed) }
        if !output.availableActions.isEmpty { summary["available_actions"] = .object(output.availableActions) }
        if let usage = remote.usage {
            summary["usage"] = .object(
                [
                    "type": usage.type.map(JSONValue.string) ?? .null, "frozen": usage.frozen.map(JSONValue.int) ?? .null,
                    "consume": usage.consume.map(JSONValue.int) ?? .null,
                ])
        }
        summary["remote_job_id"] = .string(remote.jobId)
        let credits = remote.usage.flatMap { usage in (usage.consume ?? 0) > 0 ? usage.consume : usage.frozen }
        return RemoteUpdate(status: .completed, output: JSONValue.object(summary).jsonText, outputs: outputs, creditsUsed: credits)
    }
}
