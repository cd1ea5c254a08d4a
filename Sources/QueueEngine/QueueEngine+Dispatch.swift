import Foundation
import LegnextAPI
import Logging
import QueueStore
import QueueSupport

extension QueueEngine {
    /// Claims jobs while there are free slots, tokens and work; otherwise sleeps until something
    /// changes (a slot frees, a row is inserted, a delayed job falls due, a pause ends).
    func dispatchLoop(_ queue: AsyncStream<Work>.Continuation) async {
        var workMayBeWaiting = true
        var claimFailures = 0
        var yielded = 0
        while !isStopping {
            let (free, paused) = state.withLock { state -> (Int, Bool) in
                var free = inFlightLimit(state) - state.busy
                // In a pool, the slots of the plan first: a job beyond them would wait in Legnext's
                // queue, and another account may have a slot free for it (``EngineLanes``).
                let planFree = planLimit(state) - state.busy
                if lanes != nil, planFree > 0 { free = min(free, planFree) }
                return (free, state.paused != nil)
            }
            if paused || free <= 0 {
                await workSignal.wait()
                continue
            }
            if workMayBeWaiting, yielded < 8, let lanes, lanes.outranked(self) {
                // Another account starts the next job sooner (or is preferred): it goes there
                // first. Two seconds at most, whatever the others' state says.
                yielded += 1
                await clock.wait(for: workSignal, until: clock.now().addingTimeInterval(0.25))
                continue
            }
            yielded = 0
            if !workMayBeWaiting {
                if configuration.exitWhenIdle, let deferred = await idleDeferred() {
                    let lingering = state.withLock { $0.lingering.count }
                    if lingering > 0 {
                        logger.notice(
                            "\(lingering) job(s) past a timeout are left in flight: Legnext has not finished them, and the next run follows them"
                        )
                    }
                    Self.logDrained(deferred, logger: logger)
                    state.withLock { $0.drained = true }
                    stop()
                    break
                }
                state.withLock { $0.starved = true }
                await waitForWork()
                state.withLock { $0.starved = false }
                workMayBeWaiting = true
                continue
            }
            let first: RateLimiter.Ticket
            do {
                first = try await limiter.acquire(.submit)
            } catch {
                break
            }
            if isStopping {
                limiter.giveBack(first)
                break
            }
            var tickets = [first]
            while tickets.count < min(free, configuration.claimBatch), let ticket = limiter.tryAcquire() { tickets.append(ticket) }
            // Until the claimed jobs count as submitting: the pool must not judge the queue drained.
            state.withLock { $0.claiming = true }
            let batch: ClaimBatch
            do {
                batch = try await store.claim(
                    limit: tickets.count,
                    now: clock.now(),
                    callbackTokens: configuration.callbackBaseURL != nil,
                    route: route
                )
                if claimFailures > 0 { logger.notice("claiming jobs again after \(claimFailures) failed attempt(s)") }
                claimFailures = 0
                writeLanded()
            } catch {
                state.withLock { $0.claiming = false }
                tickets.forEach(limiter.giveBack)
                claimFailures += 1
                // A full disk or another process's lock passes by itself: look again soon.
                let delay = min(error.isTemporary ? 10 : 60, pow(2, Double(min(claimFailures, 6)) - 1))
                if case .diskFull = error {
                    diskFull(error)
                } else if claimFailures & (claimFailures - 1) == 0 {
                    // Said once, then at each doubling of the count: a damaged file fails every time.
                    logger.error(
                        "cannot claim jobs (\(claimFailures) time(s) in a row): \(error); trying again in \(Int(delay))s. If it persists, check the file with `sqlite3 \(store.location) 'PRAGMA integrity_check'` (REINDEX mends a damaged index)"
                    )
                }
                try? await clock.sleep(until: clock.now().addingTimeInterval(delay))
                continue
            }
            let claimed = batch.jobs
            tickets[claimed.count...].forEach(limiter.giveBack)
            if batch.count < tickets.count { workMayBeWaiting = false }
            if !batch.failed.isEmpty {
                for failure in batch.failed { logger.warning("job \(failure.id) failed before sending: \(failure.reason)") }
                state.withLock { $0.failed += batch.failed.count }
                publishStatus()
            }
            state.withLock { state in
                state.beginPosting(claimed.map(\.job.id))
                state.claiming = false
            }
            guard !claimed.isEmpty else { continue }
            for (job, ticket) in zip(claimed, tickets) { queue.yield(.submit(job, ticket)) }
        }
    }

    /// The in-flight limit now: the plan and its lead, never over `concurrency`.
    func inFlightLimit(_ state: EngineState) -> Int {
        min(configuration.concurrency, state.lead.map { $0.plan + $0.current } ?? configuration.concurrency)
    }

    /// The jobs that run at Legnext at once: the plan's, when known; beyond them a job waits there.
    func planLimit(_ state: EngineState) -> Int { state.lead?.plan ?? configuration.concurrency }

    /// How soon a job this engine claims now would start: 0 in a free slot of the plan, 1 in
    /// Legnext's queue (the lead); nil when it takes no job now (paused, stopping, full, or its
    /// last claim came back short).
    var nextStart: Int? {
        let level = state.withLock { state -> Int? in
            guard !state.stopping, state.paused == nil, !state.starved, inFlightLimit(state) > state.busy else { return nil }
            return state.busy < planLimit(state) ? 0 : 1
        }
        return limiter.isHeldBack ? nil : level
    }

    /// Nothing in flight, being claimed, written or settled (``EngineState/isQuiet``).
    var isQuiet: Bool { state.withLock { $0.isQuiet } }

    /// Sleeps until the queue may hold claimable work: a change signal, the next delayed job's
    /// time, or the periodic check.
    private func waitForWork() async {
        let now = clock.now()
        var deadline = now.addingTimeInterval(configuration.idleCheckInterval)
        if let due = await logged("read when the next delayed job is due", { try await store.nextDueTime(after: now) }) ?? nil, due < deadline {
            deadline = due
        }
        if configuration.exitWhenIdle { deadline = min(deadline, now.addingTimeInterval(0.5)) }
        await clock.wait(for: workSignal, until: deadline)
    }

    /// Nothing in flight and nothing queued but jobs whose `run_after` is more than a minute
    /// ahead (a retry's backoff is waited for): how many those are and when the first falls due;
    /// nil while there is work to wait for.
    private func idleDeferred() async -> (count: Int, next: Date?)? {
        guard state.withLock({ $0.isQuiet && $0.paused == nil }) else { return nil }
        return await Self.queueIdle(store, now: clock.now(), logger: logger)
    }

    /// Says why a daemon run with `--exit-when-idle` leaves.
    static func logDrained(_ deferred: (count: Int, next: Date?), logger: Logger) {
        if deferred.count > 0, let next = deferred.next {
            logger.notice(
                "nothing due and nothing in flight; \(deferred.count) job(s) deferred until \(Timestamp.format(next)) or later (run_after): run again then; exiting (--exit-when-idle)"
            )
        } else {
            logger.info("queue drained: nothing queued or in flight; exiting (--exit-when-idle)")
        }
    }

    /// Whether the queue holds nothing due soon: the jobs deferred (by `run_after`) more than a
    /// minute, their count and the first one's time; nil while there is work to wait for.
    static func queueIdle(_ store: any JobStore, now: Date, logger: Logger) async -> (count: Int, next: Date?)? {
        do {
            let queued = try await store.queuedCount()
            let deferred = try await store.deferredJobs(after: now)
            guard queued == deferred.count else { return nil }
            if let next = deferred.next, next.timeIntervalSince(now) <= 60 { return nil }
            return deferred
        } catch {
            logger.warning("cannot count the queued jobs: \(error)")
            return nil
        }
    }

    /// Makes the requests the loops hand over, each in its own task. When the loops end
    /// (shutdown), requests under way get the grace period, then are cut off.
    func perform(_ work: AsyncStream<Work>) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                for await item in work {
                    active.withLock { $0 += 1 }
                    group.addTask {
                        await self.handle(item)
                        let left = self.active.withLock { count -> Int in
                            count -= 1
                            return count
                        }
                        if left == 0 { self.idleSignal.signal() }
                    }
                }
                group.addTask {
                    let deadline = self.clock.now().addingTimeInterval(self.configuration.gracePeriod)
                    while self.active.withLock({ $0 }) > 0 {
                        if self.clock.now() >= deadline { throw GraceExpired() }
                        await self.clock.wait(for: self.idleSignal, until: deadline)
                    }
                }
            }
        } catch {
            logger.warning("grace period over: requests still under way were cut off; their jobs are recorded as such")
        }
    }

    private func handle(_ item: Work) async {
        switch item {
        case .submit(let claimed, let ticket): await submit(claimed, ticket: ticket)
        case .poll(let id): await poll(id)
        case .confirm(let id, let remoteJobId): await confirmUncertain(id, remoteJobId: remoteJobId)
        }
    }
}

struct GraceExpired: Error {}

extension LegnextOutcome {
    /// Legnext answered (whatever it said): the request's whole round trip was seen.
    var wasAnswered: Bool {
        switch self {
        case .success, .rejected, .account, .rateLimited: true
        case .transient(let failure): failure.httpStatus != nil
        }
    }

    /// What the outcome means for the request budget.
    var budgetResult: RateLimiter.Result {
        switch self {
        case .success, .rejected, .account: .answered
        case .rateLimited(let retryAfter, _): .rateLimited(retryAfter: retryAfter?.seconds)
        case .transient(let failure): failure.httpStatus == nil ? .noAnswer : .answered
        }
    }
}

extension Duration {
    var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
