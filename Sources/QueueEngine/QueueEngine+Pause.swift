import Foundation
import LegnextAPI

extension QueueEngine {
    /// 401/402: every job would fail the same way, so submissions stop (jobs stay queued) until
    /// the balance probe says the key works and there is credit.
    func pause(for failure: LegnextAPIFailure) {
        let reason =
            failure.httpStatus == 402
            ? "out of credit at Legnext (HTTP 402: \(failure.error.summary)); add credit and the daemon resumes by itself"
            : "Legnext rejects the API key (HTTP \(failure.httpStatus): \(failure.error.summary)); fix the key and the daemon resumes by itself"
        let now = clock.now()
        let changed = state.withLock { state -> Bool in
            guard state.paused == nil else { return false }
            state.paused = (reason, now, failure.httpStatus)
            return true
        }
        guard changed else { return }
        logger.error("submissions paused: \(reason)")
        publishStatus()
        pauseSignal.signal()
        Task { [store, clock] in
            try? await store.heartbeat(
                now: clock.now(),
                inFlight: state.withLock { $0.busy },
                currentRate: nil,
                pausedReason: reason,
                pausedSince: now
            )
        }
    }

    /// While paused, asks for the balance with growing waits; resumes when it is fine.
    func probeLoop() async {
        var attempt = 0
        var lastKey: APIKey?
        while !Task.isCancelled, !isStopping {
            guard let paused = state.withLock({ $0.paused }) else {
                attempt = 0
                await pauseSignal.wait()
                continue
            }
            attempt += 1
            let wait = Backoff.accountProbe.delay(attempt: attempt)
            await clock.wait(for: stopSignal, until: clock.now().addingTimeInterval(wait))
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
            EngineMetrics.request("GET /account/balance", outcome)
            switch outcome {
            case .success(let balance):
                let credit = max(balance.availablePoints ?? 0, balance.availableCredits ?? 0)
                if paused.accountStatus == 402, balance.availablePoints != nil || balance.availableCredits != nil, credit <= 0 {
                    logger.info(
                        "still out of credit (balance: \(credit)); next check in about \(Int(Backoff.accountProbe.delay(attempt: attempt + 1, random: 0.5)))s"
                    )
                    continue
                }
                resume(note: "balance check passed (available: \(credit))")
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

    private func resume(note: String) {
        let was = state.withLock { state -> String? in
            defer { state.paused = nil }
            return state.paused?.reason
        }
        guard was != nil else { return }
        logger.notice("submissions resumed: \(note)")
        publishStatus()
        workSignal.signal()
        Task { [store, clock] in
            try? await store.heartbeat(now: clock.now(), inFlight: state.withLock { $0.busy }, currentRate: nil, pausedReason: nil, pausedSince: nil)
        }
    }
}
