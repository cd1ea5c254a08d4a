import Foundation
import LegnextAPI
import QueueStore

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
                    // Lazy deletion: skip entries of finished jobs and stale times.
                    guard var job = state.inFlight[entry.id], !job.polling, job.nextPoll == entry.at else { continue }
                    job.polling = true
                    state.inFlight[entry.id] = job
                    due.append(entry.id)
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
        let outcome = await legnext.job(id: tracked.remoteJobId)
        limiter.finished(ticket, outcome.budgetResult)
        EngineMetrics.request("GET /v1/job", outcome)
        if Task.isCancelled { return }  // cut off by shutdown: the job is polled again after a restart
        let now = clock.now()
        switch outcome {
        case .success(let remote):
            await applyPolled(id, remote, now: now)
        case .rejected(let failure):
            log.warning("job \(id): Legnext no longer knows \(tracked.remoteJobId): \(failure)")
            await finishFailed(
                id,
                error: "Legnext cannot report job \(tracked.remoteJobId): \(failure)",
                detail: failure.error.json.jsonText,
                requestSent: true,
                log
            )
            untrack(id)
        case .account(let failure):
            pause(for: failure, kind: tracked.kind)
            await retryPoll(id, after: Backoff.accountProbe.delay(attempt: tracked.polls + 1), note: "poll refused: \(failure)", now: now, log)
        case .rateLimited(let retryAfter, _):
            await retryPoll(id, after: retryAfter?.seconds ?? 1, note: nil, now: now, log)
        case .transient(let failure):
            log.info("job \(id): poll failed: \(failure)")
            await retryPoll(id, after: Backoff.transient.delay(attempt: min(tracked.polls + 1, 4)), note: "poll failed: \(failure)", now: now, log)
        }
    }

    /// Applies a Job object from a poll (or a confirming GET).
    func applyPolled(_ id: Int64, _ remote: LegnextJob, now: Date) async {
        let log = JobLog(logger, id: id, remoteId: remote.jobId)
        guard let tracked = state.withLock({ $0.inFlight[id] }) else { return }
        switch remote.status {
        case .completed, .failed:
            let update = finalUpdate(remote, countsRequest: true)
            let done: Void? = await record(id, log) { _ = try await self.store.applyRemote(id: id, update: update, nextPollAt: nil, now: now) }
            untrack(id)  // after the write: the engine is not idle while the end is unwritten
            if done != nil { noteFinished(id, remote, kind: tracked.kind, submittedAt: tracked.submittedAt, polls: tracked.polls + 1, now: now, log) }
        case .pending, .staged, .processing:
            let progressed = remote.status.rank > (LegnextJobStatus(rawValue: tracked.remoteStatus)?.rank ?? -1)
            // Waiting in Legnext's own queue (a plan runs ~6 at once, the rest wait `pending`) is
            // not a stall: the no-progress clock starts when the job leaves it.
            let progressAt = progressed || remote.status == .pending ? now : tracked.progressAt
            if let timeout = timeoutPassed(tracked, progressAt: progressAt, status: remote.status, now: now) {
                guard now.timeIntervalSince(tracked.submittedAt) < configuration.lingerLimit else {
                    await finishFailed(
                        id,
                        error:
                            "gave up: Legnext had not finished it \(Self.minutes(configuration.lingerLimit)) after submission; it may still finish and charge it",
                        detail: nil,
                        requestSent: true,
                        log
                    )
                    untrack(id)
                    return
                }
                let started = state.withLock { $0.lingering.insert(id).inserted }
                if started {
                    // A job paid for is never dropped: its slot goes to the next job, and it is still followed.
                    let every = Self.minutes(configuration.lingerPollInterval)
                    let note = "\(timeout); its slot goes to the next job, and it is still asked about every \(every)"
                    log.warning("job \(id): \(note)")
                    workSignal.signal()
                    await record(id, log) { try await self.store.addEvent(id: id, detail: note, now: now) }
                }
            }
            let next = state.withLock { state -> Date in
                guard var job = state.inFlight[id] else { return now }
                job.polls += 1
                job.polling = false
                if progressed {
                    job.remoteStatus = remote.status.rawValue
                    job.progressAt = now
                }
                job.nextPoll =
                    state.lingering.contains(id)
                    ? now.addingTimeInterval(configuration.lingerPollInterval)
                    : nextPoll(state.planner, kind: job.kind, submittedAt: job.submittedAt, polls: job.polls, now: now)
                state.inFlight[id] = job
                state.polls.push(id, at: job.nextPoll)
                return job.nextPoll
            }
            pollSignal.signal()
            let update = RemoteUpdate(status: remote.status.rawValue)
            let after = await record(id, log) { try await self.store.applyRemote(id: id, update: update, nextPollAt: next, now: now) }
            // Settled by a person meanwhile (`cancel --force`): stop following it.
            if let state = after ?? nil, !state.isInFlight {
                untrack(id)
                log.info("job \(id) is \(state.rawValue) in the queue; no longer following it")
            }
        }
    }

    private func retryPoll(_ id: Int64, after delay: TimeInterval, note: String?, now: Date, _ log: JobLog) async {
        let next = now.addingTimeInterval(delay)
        let giveUp = state.withLock { state -> Bool in
            guard var job = state.inFlight[id] else { return false }
            if now.timeIntervalSince(job.submittedAt) > configuration.giveUpAfter { return true }
            job.polling = false
            job.polls += 1
            job.nextPoll = next
            state.inFlight[id] = job
            state.polls.push(id, at: next)
            return false
        }
        if giveUp {
            await finishFailed(
                id,
                error: "gave up: no answer about it for \(Self.minutes(configuration.giveUpAfter)) (--give-up-after)",
                detail: nil,
                requestSent: true,
                log
            )
            untrack(id)
            return
        }
        pollSignal.signal()
        await record(id, log) { try await self.store.recordRequestProblem(id: id, note: note, nextPollAt: next, now: now) }
    }

    func untrack(_ id: Int64) {
        state.withLock {
            _ = $0.inFlight.removeValue(forKey: id)
            $0.lingering.remove(id)
        }
        workSignal.signal()
    }

    /// Which timeout a job still running at Legnext has passed, if any.
    private func timeoutPassed(_ job: EngineState.Tracked, progressAt: Date, status: LegnextJobStatus, now: Date) -> String? {
        if now.timeIntervalSince(job.submittedAt) > configuration.giveUpAfter {
            return "not finished \(Self.minutes(configuration.giveUpAfter)) after submission (--give-up-after)"
        }
        if now.timeIntervalSince(progressAt) > configuration.noProgressTimeout {
            return "no progress: \(status.rawValue) for \(Self.minutes(configuration.noProgressTimeout)) (--no-progress-timeout)"
        }
        return nil
    }

    static func minutes(_ seconds: TimeInterval) -> String {
        seconds >= 120 ? "\(Int(seconds / 60))m" : "\(Int(seconds))s"
    }

    /// What the store records of a finished Job object.
    func finalUpdate(_ remote: LegnextJob, countsRequest: Bool) -> RemoteUpdate {
        guard remote.status == .completed else {
            let error = remote.error?.summary ?? "Legnext reported the job failed"
            return RemoteUpdate(status: "failed", error: "Legnext: \(error)", errorDetail: remote.error?.json.jsonText, countsRequest: countsRequest)
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
            EngineMetrics.finished(state: "completed", kind: kind, duration: duration, lag: lag, credits: remote.usage?.consume)
            state.withLock {
                $0.planner.record(kind: kind, duration: duration, polls: polls)
                $0.completed += 1
            }
            log.info("job \(id) completed in \(String(format: "%.1f", now.timeIntervalSince(submittedAt)))s")
        } else {
            EngineMetrics.finished(state: "failed", kind: kind, duration: reported, lag: lag, credits: nil)
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
        return RemoteUpdate(status: "completed", output: JSONValue.object(summary).jsonText, outputs: outputs, creditsUsed: credits)
    }
}
