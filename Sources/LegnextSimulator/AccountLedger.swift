import QueueSupport

/// One account's side of the simulator: its credit, its concurrency slots and the jobs
/// waiting for one, and its rate window. Legnext meters each account apart.
struct AccountLedger {
    let account: SimulatorConfiguration.Account
    var available: Int
    var frozen = 0
    var consumed = 0
    /// Jobs holding a concurrency slot (started, or about to start) and not yet finished.
    var running: Set<String> = []
    /// Jobs waiting for a slot, oldest first.
    var waiting: [String] = []
    private var waitingHead = 0
    private var window: [Double] = []
    private var windowHead = 0
    var rateLimited = 0
    /// Most requests admitted within one sliding second (with a rate limit on).
    var peakPerSecond = 0
    var jobsCreated = 0
    var processing = 0
    var peakProcessing = 0
    var completed = 0
    var failed = 0

    init(account: SimulatorConfiguration.Account) {
        self.account = account
        // Bounded so that no sum of points can overflow.
        available = min(account.credits, Self.maxPoints)
    }

    static let maxPoints = 1 << 50

    var hasFreeSlot: Bool { account.concurrency == 0 || running.count < account.concurrency }

    /// Counts a request at `t` against the rate limit: nil when admitted, else the seconds to wait.
    mutating func admit(at t: Double) -> Int? {
        guard account.rateLimit > 0, account.rateLimit.isFinite else { return nil }
        while windowHead < window.count, window[windowHead] <= t - 1 { windowHead += 1 }
        if windowHead > 4096 {
            window.removeFirst(windowHead)
            windowHead = 0
        }
        if window.count - windowHead >= max(1, Int(min(account.rateLimit, 1e9))) {
            rateLimited += 1
            return max(1, Int((window[windowHead] + 1 - t).rounded(.up)))
        }
        window.append(t)
        peakPerSecond = max(peakPerSecond, window.count - windowHead)
        return nil
    }

    /// `job` ended: its slot is free, its points spent (or given back when it failed).
    mutating func finish(_ job: SimulatorJob) {
        running.remove(job.id)
        processing -= 1
        frozen -= job.cost
        if job.willFail {
            available += job.cost
            failed += 1
        } else {
            consumed += job.cost
            completed += 1
        }
    }

    /// The oldest job waiting for a slot, taken off the queue.
    mutating func nextWaiting() -> String? {
        guard waitingHead < waiting.count else { return nil }
        let next = waiting[waitingHead]
        waitingHead += 1
        if waitingHead > 1024 {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return next
    }

    var stats: JSONValue {
        .object([
            "jobs_created": .int(jobsCreated), "jobs_completed": .int(completed), "jobs_failed": .int(failed),
            "peak_processing": .int(peakProcessing), "rate_limited": .int(rateLimited), "peak_requests_per_second": .int(peakPerSecond),
            "credits": .object(["frozen": .int(frozen), "consumed": .int(consumed), "left": .int(available)]),
        ])
    }
}
