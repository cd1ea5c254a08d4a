import Foundation
import HeapModule
import QueueStore
import QueueSupport

/// The engine's bookkeeping, kept in memory and guarded by one lock: which jobs are in flight,
/// when each is next polled, whether submissions are paused.
struct EngineState: Sendable {
    /// Accepted jobs being followed, each its own ``RemoteJobLifecycle``.
    var inFlight: [Int64: RemoteJobLifecycle] = [:]
    /// The timeouts every followed job is held to.
    let limits: RemoteJobLifecycle.Limits
    /// Claimed jobs whose POST has not been answered yet (kept with `posting`, by
    /// ``beginPosting(_:)`` and ``endPosting(_:)`` only).
    private(set) var submitting = 0
    /// Their ids, each with its number of POSTs under way (a job put back can be claimed again
    /// before the first POST's bookkeeping ends).
    private(set) var posting: [Int64: Int] = [:]
    /// What callbacks said of jobs whose POST has not been answered yet: one that finished is
    /// polled at once when the answer is recorded; the Legnext job a callback named settles the
    /// job if the answer is lost instead.
    var earlyCallbacks: [Int64: EarlyCallback] = [:]
    var polls = PollQueue()

    mutating func beginPosting(_ ids: [Int64]) {
        submitting += ids.count
        for id in ids { posting[id, default: 0] += 1 }
    }

    /// One POST of `id` ended; returns what early callbacks said of the job (forgotten with its
    /// last POST).
    @discardableResult
    mutating func endPosting(_ id: Int64) -> EarlyCallback? {
        submitting -= 1
        let early = earlyCallbacks[id]
        if let count = posting[id], count > 1 {
            posting[id] = count - 1
        } else {
            posting[id] = nil
            earlyCallbacks[id] = nil
        }
        return early
    }
    /// When each followed job is next polled, over all of them (its planner learns durations).
    var scheduler: PollScheduler
    var planner: PollPlanner { scheduler.planner }
    var paused: (reason: String, since: Date, accountStatus: Int)?
    /// Points the next job needs, while paused for credit: the pause ends when the balance covers it.
    var creditNeeded: Int?
    /// Points the balance had at the last resume from a credit pause, less what was sent since
    /// (nil: not tracked). A job it does not cover waits for a balance check instead of a 402.
    var creditLeft: Int?
    /// Points a job of each kind froze, as accepted submissions reported them.
    var pointsByKind: [String: Int] = [:]
    /// Consecutive credit pauses whose resume did not last: their probes keep backing off.
    var creditPauses = 0
    var lastResume: Date?
    var stopping = false
    var stopStartedAt: Date?
    /// Writes under way or waiting to be retried (a full disk): the engine is not idle while any is.
    var unwritten = 0
    /// Stopped because the queue ran dry (`exitWhenIdle`), not because it was told to.
    var drained = false
    var completed = 0
    var failed = 0

    /// Uncertain jobs being settled by looking at Legnext's running jobs.
    var settling: [Int64: UncertainJobSettlement] = [:]
    /// Submissions under way (POST sent, its outcome not yet recorded), by job id.
    var unanswered: [Int64: Job] = [:]
    /// The slowest answer to a POST seen (this run, or recent ones in the queue): how long a
    /// request Legnext received may still be at work there.
    var slowestAnswer: TimeInterval?
    /// Whether the server has `GET /account/active_tasks` (nil: not asked yet).
    var hasActiveTasks: Bool?
    /// The jobs kept waiting in Legnext's queue beyond the plan's limit, when the plan is known.
    var lead: PlanLead?
    /// What Legnext's list of running jobs showed of the jobs in flight.
    var watch = RunningJobsWatch()

    init(scheduler: PollScheduler, limits: RemoteJobLifecycle.Limits) {
        self.scheduler = scheduler
        self.limits = limits
    }

    /// Starts following an accepted job (just submitted, adopted, or recovered at start-up): it
    /// is first asked about at `next`.
    mutating func follow(
        _ id: Int64,
        kind: String,
        remoteJobId: String,
        status: LegnextJobStatus,
        submittedAt: Date,
        progressAt: Date? = nil,
        next: Date
    ) {
        inFlight[id] = RemoteJobLifecycle(
            id: id,
            kind: kind,
            remoteJobId: remoteJobId,
            status: status,
            submittedAt: submittedAt,
            progressAt: progressAt,
            firstPoll: next,
            limits: limits
        )
        scheduler.follow(id, kind: kind)
        polls.push(id, at: next)
    }

    /// Feeds one event to a followed job's lifecycle (which sees the scheduler as it is now) and
    /// carries out the actions that live in memory: the poll schedule, the slot a job past a
    /// timeout gives up. Returns the job afterwards and every action, for the engine's writes;
    /// nil if the job is not followed.
    mutating func event(
        _ id: Int64,
        _ body: (inout RemoteJobLifecycle, PollScheduler) -> [RemoteJobLifecycle.Action]
    ) -> (job: RemoteJobLifecycle, actions: [RemoteJobLifecycle.Action])? {
        guard var job = inFlight[id] else { return nil }
        let actions = body(&job, scheduler)
        inFlight[id] = job
        if job.isLingering { lingering.insert(id) }
        for case .schedulePoll(let at) in actions { polls.push(id, at: at) }
        return (job, actions)
    }

    /// Stops following a job (its end is written, or a person settled it).
    mutating func untrack(_ id: Int64) {
        inFlight[id] = nil
        scheduler.forget(id)
        lingering.remove(id)
        watch.forget(id)
    }

    /// In-flight jobs past a timeout: still asked about, slowly, but no longer holding a slot
    /// (kept from their lifecycles' ``RemoteJobLifecycle/isLingering``).
    private(set) var lingering: Set<Int64> = []

    /// Slots in use: submissions under way and jobs followed at their normal pace.
    var busy: Int { inFlight.count - lingering.count + submitting }

    /// The last claim found fewer jobs than it asked for, and none has come since.
    var starved = false
    /// A claim is under way (its jobs may be `submitting` in the queue, not yet counted here).
    var claiming = false

    /// Nothing in flight, being claimed, written or settled.
    var isQuiet: Bool { busy == 0 && !claiming && unwritten == 0 && settling.isEmpty }
}

/// Polls due, earliest first. Entries are never removed early: a popped entry whose job has
/// ended or been rescheduled is skipped by the poll loop.
struct PollQueue: Sendable {
    private struct Entry: Comparable, Sendable {
        var at: Date
        var id: Int64
        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.at, lhs.id) < (rhs.at, rhs.id) }
    }

    private var heap = Heap<Entry>()

    var earliest: Date? { heap.min?.at }

    mutating func push(_ id: Int64, at: Date) { heap.insert(Entry(at: at, id: id)) }

    mutating func pop() -> (at: Date, id: Int64)? { heap.popMin().map { ($0.at, $0.id) } }
}

/// What callbacks said of a job before its POST was answered.
struct EarlyCallback: Sendable, Equatable {
    /// The Legnext job a callback named.
    var remoteJobId: String?
    /// Whether one said it completed or failed.
    var finished = false
}
