import Foundation
import LegnextAPI
import QueueSupport

/// Following in-flight jobs by looking at Legnext's running jobs (`GET /account/active_tasks`)
/// rather than polling each: one look shows them all. A job that left the list, or is listed
/// as ended, gets its one GET, for the result; the list's progress and estimates decide when to
/// look next. A pure value: the engine looks, GETs and writes, and feeds the answers in.
///
/// The rules:
/// - Absence proves an end only for a job Legnext had accepted before the look began, and only
///   in a whole list (`total_active` no more than the tasks listed).
/// - A job whose GET showed it still running after the list left it out is one the list does
///   not show (``unseen``): from then on it is polled on its own schedule, and its absence
///   proves nothing.
/// - The next look comes before a slot at Legnext would idle: with q jobs queued there (the
///   account's unfinished jobs beyond the plan's `concurrent_limit`), a slot idles only once
///   q + 1 jobs have ended, so the next look is at half the (q + 1)-th shortest time left,
///   within ``floor(lengths:)`` and ``ceiling``. Halving the wait as a job nears its end catches
///   it soon after, whatever the noise of the estimates (a look too early costs a request, one
///   too late a slot). A job followed since is first looked for at half its typical length
///   (``firstLook(followedAt:typical:)``); one still listed past every guess of its end counts
///   as having as long left as it has been overdue, so looks back off from a stalled job.
struct RunningJobsWatch: Sendable {
    /// An in-flight job, as the engine follows it.
    struct Followed: Sendable, Hashable {
        var id: Int64
        var remoteJobId: String
        var kind: String
        /// When Legnext's answer giving it its id was recorded: a look begun later lists it while it runs.
        var followedAt: Date
    }

    /// What one look showed.
    struct Reading: Sendable, Equatable {
        /// Jobs to ask about now (their GET brings the result).
        var ended: [Int64] = []
        /// Jobs the list shows further along than before (for their rows' status).
        var progressed: [Int64: LegnextJobStatus] = [:]
        /// When to look again.
        var nextLook: Date
    }

    /// The longest wait between two looks while jobs are in flight.
    static let ceiling: TimeInterval = 5
    /// The shortest wait between two looks, whatever the jobs' lengths.
    static let shortestGap: TimeInterval = 0.1

    /// Jobs the list left out while a GET showed them running: polled on their own.
    private(set) var unseen: Set<Int64> = []
    /// Jobs asked about because a look showed them ended, their GET not answered yet.
    private(set) var asked: Set<Int64> = []
    /// Each processing job's first listed progress and when it was seen: its own pace.
    private var firstProgress: [Int64: (progress: Double, at: Date)] = [:]
    /// The furthest status the list showed of each job.
    private var listedStatus: [Int64: LegnextJobStatus] = [:]
    /// When each job still listed was first seen with nothing left by every guess.
    private var overdueSince: [Int64: Date] = [:]

    /// The shortest wait between two looks: a fortieth of the shortest typical job in flight
    /// (a lag that costs a job 2.5 % of its length, at most once per batch), at least ``shortestGap``.
    static func floor(lengths: [TimeInterval]) -> TimeInterval {
        max(shortestGap, (lengths.min() ?? 0) / 40)
    }

    /// Reads one look, begun at `lookStarted` and answered at `answered`, against the jobs
    /// followed then. `typical` is a kind's typical length, when known.
    mutating func read(
        _ list: LegnextActiveTasks,
        followed: [Followed],
        lookStarted: Date,
        answered: Date,
        typical: (String) -> TimeInterval?
    ) -> Reading {
        let whole = (list.totalActive ?? 0) <= list.tasks.count
        let listed = Dictionary(list.tasks.map { ($0.jobId, $0) }, uniquingKeysWith: { first, _ in first })
        var reading = Reading(nextLook: answered.addingTimeInterval(Self.ceiling))
        var left: [TimeInterval] = []
        for job in followed where !unseen.contains(job.id) && !asked.contains(job.id) {
            guard let task = listed[job.remoteJobId] else {
                // Accepted while the look was under way, it may not be listed yet.
                if job.followedAt < lookStarted, whole { end(job.id, &reading) }
                continue
            }
            let status = task.status.flatMap { LegnextJobStatus(rawValue: $0.lowercased()) } ?? .pending
            if status.isFinal {
                end(job.id, &reading)
                continue
            }
            if status.isAhead(of: listedStatus[job.id]) {
                listedStatus[job.id] = status
                reading.progressed[job.id] = status
            }
            left.append(timeLeft(job, task, status, at: answered, typical: typical(job.kind)))
        }
        left.sort()
        // Jobs queued at Legnext take the slots running ones free: one more must end than are queued.
        let queued = list.concurrentLimit.map { max(0, (list.totalActive ?? list.tasks.count) - $0) } ?? 0
        if queued < left.count {
            let lengths = followed.compactMap { typical($0.kind) }
            let gap = min(Self.ceiling, max(Self.floor(lengths: lengths), left[queued] / 2))
            reading.nextLook = answered.addingTimeInterval(gap)
        }
        return reading
    }

    /// When a job followed at `followedAt` is first looked for: after half its typical length
    /// (a second before any is known), within the floor and the ceiling.
    static func firstLook(followedAt: Date, typical: TimeInterval?) -> Date {
        let floor = floor(lengths: typical.map { [$0] } ?? [])
        return followedAt.addingTimeInterval(min(ceiling, max(floor, typical.map { $0 / 2 } ?? 1)))
    }

    /// A GET about job `id` was answered: if a look sent it and the job is still running, the
    /// list does not show this job.
    mutating func answered(_ id: Int64, ended: Bool) {
        if asked.remove(id) != nil, !ended { unseen.insert(id) }
    }

    /// The job is no longer followed.
    mutating func forget(_ id: Int64) {
        unseen.remove(id)
        asked.remove(id)
        firstProgress[id] = nil
        listedStatus[id] = nil
        overdueSince[id] = nil
    }

    /// Whether the list shows this job (else it is polled on its own schedule).
    func watches(_ id: Int64) -> Bool { !unseen.contains(id) }

    private mutating func end(_ id: Int64, _ reading: inout Reading) {
        asked.insert(id)
        reading.ended.append(id)
    }

    /// The least of what the list says is left of a processing job: Legnext's estimate, what
    /// its progress leaves of a typical job, and what it leaves at its own pace so far.
    private mutating func timeLeft(
        _ job: Followed,
        _ task: LegnextActiveTasks.Task,
        _ status: LegnextJobStatus,
        at now: Date,
        typical: TimeInterval?
    ) -> TimeInterval {
        var guesses: [TimeInterval] = []
        if let estimate = task.estimatedTime, estimate >= 0 { guesses.append(estimate) }
        // Its pace counts from its first look while processing, not from its wait before.
        if status == .processing, let progress = task.progress, progress >= 0, progress <= 100 {
            if let typical { guesses.append(typical * (1 - progress / 100)) }
            if let first = firstProgress[job.id] {
                let pace = (progress - first.progress) / now.timeIntervalSince(first.at)
                if progress - first.progress >= 5, pace > 0 { guesses.append((100 - progress) / pace) }
            } else {
                firstProgress[job.id] = (progress, now)
            }
        }
        let left = guesses.min() ?? typical.map { $0 / 2 } ?? Self.ceiling
        // Still listed with nothing left (a stalled job, an estimate stuck at 0): as long again
        // as it has been overdue, so its looks back off instead of coming at the floor for ever.
        guard left <= Self.shortestGap else {
            overdueSince[job.id] = nil
            return left
        }
        let since = overdueSince[job.id] ?? now
        overdueSince[job.id] = since
        return max(left, now.timeIntervalSince(since))
    }
}
