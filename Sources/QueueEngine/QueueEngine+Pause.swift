import Foundation
import LegnextAPI

extension QueueEngine {
    /// 401/402: every job would fail the same way, so submissions stop (jobs stay queued) until
    /// the balance probe says the key works and there is credit for the next job. `kind` is
    /// the refused job's: what it costs is what the balance must cover.
    func pause(for failure: LegnextAPIFailure, kind: String? = nil) {
        if failure.httpStatus == 402 {
            pauseForCredit(
                "out of credit at Legnext (HTTP 402: \(failure.error.summary)); add credit and the daemon resumes by itself",
                needed: expectedPoints(kind ?? LegnextKind.diffusion.rawValue)
            )
        } else {
            let reason =
                "Legnext rejects the API key (HTTP \(failure.httpStatus): \(failure.error.summary)); fix the key and the daemon resumes by itself"
            pause(reason: reason, accountStatus: failure.httpStatus, creditNeeded: nil)
        }
    }

    private func pauseForCredit(_ reason: String, needed: Int) {
        pause(reason: reason, accountStatus: 402, creditNeeded: needed)
    }

    private func pause(reason: String, accountStatus: Int, creditNeeded: Int?) {
        let now = clock.now()
        let changed = state.withLock { state -> Bool in
            guard state.paused == nil else { return false }
            state.paused = (reason, now, accountStatus)
            state.creditNeeded = creditNeeded
            state.creditLeft = nil
            if accountStatus == 402 {
                // Out of credit again soon after a resume: the probes go on backing off.
                let recent = state.lastResume.map { now.timeIntervalSince($0) < 600 } ?? false
                state.creditPauses = recent ? state.creditPauses + 1 : 1
            }
            return true
        }
        guard changed else { return }
        logger.error("\(accountPrefix)submissions paused: \(reason)")
        publishStatus()
        pauseSignal.signal()
        writePause(reason, since: now, what: "pause")
    }

    /// Points a job of `kind` is expected to freeze: what Legnext last reported for the kind,
    /// else its documented price, else a diffusion's.
    func expectedPoints(_ kind: String) -> Int {
        state.withLock { Self.expectedPoints(kind, $0) }
    }

    private static func expectedPoints(_ kind: String, _ state: EngineState) -> Int {
        state.pointsByKind[kind] ?? LegnextKind(rawValue: kind)?.documentedPoints ?? LegnextKind.diffusion.documentedPoints ?? 80
    }

    /// Before a submission, after a credit pause: takes the job's points from what the last
    /// balance check left. Returns the points taken (0 when credit is not tracked), or nil when
    /// they are not covered: then submissions pause for a balance check instead of a 402.
    func takeCredit(for kind: String) -> Int? {
        // One lock per submission: the common case (credit not tracked) reads nothing else.
        let (taken, points) = state.withLock { state -> (Int?, Int) in
            guard let left = state.creditLeft else { return (0, 0) }
            let points = Self.expectedPoints(kind, state)
            guard points <= left else { return (nil, points) }
            state.creditLeft = left - points
            return (points, points)
        }
        if taken == nil {
            pauseForCredit(
                "out of credit at Legnext: the balance left covers no more \(kind) jobs (\(points) points each); add credit and the daemon resumes by itself",
                needed: points
            )
        }
        return taken
    }

    /// An accepted job's frozen points: learned for its kind, and the estimate taken corrected.
    func notePoints(kind: String, frozen: Int?, taken: Int) {
        guard let frozen, frozen > 0 else { return }
        state.withLock { state in
            state.pointsByKind[kind] = frozen
            if taken > 0, let left = state.creditLeft { state.creditLeft = left + taken - frozen }
        }
    }

    /// Reads the API key again (SIGHUP): the next requests use it, and a pause for the key is
    /// checked at once rather than at the next probe.
    public func reloadKey() {
        guard let reload = configuration.reloadKey else { return }
        guard let key = reload() else {
            logger.warning("SIGHUP: cannot read the API key again; keeping the one in use")
            return
        }
        legnext.useKey(key)
        logger.notice("SIGHUP: the API key was read again")
        probeSignal.signal()
    }

    /// While paused, asks for the balance with growing waits; resumes when it is fine.
    func probeLoop() async {
        var attempt = 0
        var lastKey: APIKey?
        while !Task.isCancelled, !isStopping {
            guard let paused = state.withLock({ $0.paused }) else {
                await pauseSignal.wait()
                attempt = state.withLock { $0.paused?.accountStatus == 402 ? 2 * ($0.creditPauses - 1) : 0 }
                continue
            }
            attempt += 1
            let wait = configuration.balanceChecks.delay(attempt: attempt)
            await clock.wait(for: probeSignal, until: clock.now().addingTimeInterval(wait))
            if isStopping { break }
            let ticket: RateLimiter.Ticket
            do {
                ticket = try await limiter.acquire(.poll)
            } catch {
                break
            }
            if paused.accountStatus == 401, let key = configuration.reloadKey?() {
                if key != lastKey, lastKey != nil { logger.notice("the API key changed; checking it") }
                lastKey = key
                legnext.useKey(key)
            }
            let outcome = await legnext.balance()
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request(account: route.name, "GET /account/balance", outcome)
            switch outcome {
            case .success(let balance):
                if lanes != nil { await recordBalance(balance) }
                let known = balance.availablePoints != nil || balance.availableCredits != nil
                let credit = max(balance.availablePoints ?? 0, balance.availableCredits ?? 0)
                let needed = state.withLock { $0.creditNeeded } ?? 1
                if paused.accountStatus == 402, known, credit < needed {
                    logger.info(
                        "still out of credit (balance: \(credit), the next job needs \(needed)); next check in about \(Int(configuration.balanceChecks.delay(attempt: attempt + 1, random: 0.5)))s"
                    )
                    continue
                }
                resume(note: "balance check passed (available: \(credit))", creditLeft: paused.accountStatus == 402 && known ? credit : nil)
            case .account(let failure):
                logger.info("still paused: \(failure)")
            case .rateLimited:
                break
            case .rejected(let failure):
                logger.warning("balance check refused: \(failure)")
            case .transient(let failure):
                logger.info("balance check failed: \(failure)")
            }
        }
    }

    private func resume(note: String, creditLeft: Int?) {
        let now = clock.now()
        let was = state.withLock { state -> String? in
            defer {
                state.paused = nil
                state.creditNeeded = nil
                state.creditLeft = creditLeft
                state.lastResume = now
            }
            return state.paused?.reason
        }
        guard was != nil else { return }
        logger.notice("\(accountPrefix)submissions resumed: \(note)")
        publishStatus()
        workSignal.signal()
        writePause(nil, since: nil, what: "resume")
    }

    /// Puts a pause (or its end) in the account's row (and, alone, the daemon row) at once, for
    /// `status`, rather than at the next heartbeat; if the write fails, that heartbeat does it.
    private func writePause(_ reason: String?, since: Date?, what: String) {
        Task(executorPreference: taskExecutor) { [self, store, clock, route] in
            await self.logged("record the \(what) in the accounts row (the next heartbeat does)") {
                let busy = self.state.withLock { $0.busy }
                try await store.accountHeartbeat(
                    route.name,
                    now: clock.now(),
                    inFlight: busy,
                    currentRate: nil,
                    pausedReason: reason,
                    pausedSince: since
                )
                if self.lanes == nil {
                    try await store.heartbeat(now: clock.now(), inFlight: busy, currentRate: nil, pausedReason: reason, pausedSince: since)
                }
            }
        }
        lanes?.changed()
    }
}
