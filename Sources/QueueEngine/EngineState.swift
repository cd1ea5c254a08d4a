import Foundation
import QueueStore

/// The engine's bookkeeping, kept in memory and guarded by one lock: which jobs are in flight,
/// when each is next polled, whether submissions are paused.
struct EngineState: Sendable {
    struct Tracked: Sendable {
        var id: Int64
        var kind: String
        var remoteJobId: String
        var remoteStatus: String
        var submittedAt: Date
        var progressAt: Date
        var polls: Int
        var nextPoll: Date
        var polling = false
    }

    var inFlight: [Int64: Tracked] = [:]
    /// Claimed jobs whose POST has not been answered yet.
    var submitting = 0
    /// Jobs whose callback said "finished" before their POST's answer was recorded: polled at
    /// once when it is.
    var earlyFinishHints: Set<Int64> = []
    var polls = PollQueue()
    var planner: PollPlanner
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
    var settling: [Int64: Settling] = [:]
    /// Submissions under way (POST sent, its outcome not yet recorded), by job id.
    var unanswered: [Int64: Job] = [:]
    /// The slowest answer to a POST seen (this run, or recent ones in the queue): how long a
    /// request Legnext received may still be at work there.
    var slowestAnswer: TimeInterval?
    /// Whether the server has `GET /account/active_tasks` (nil: not asked yet).
    var hasActiveTasks: Bool?

    /// An uncertain job whose lost submission is being looked for among Legnext's running jobs.
    struct Settling: Sendable {
        var id: Int64
        var kind: String
        /// ``QueueStore/Job/submissionFingerprint`` of its row (what its POST sent, short of the callback).
        var fingerprint: String
        /// The POST left at or after this.
        var sentAt: Date
        /// By this the POST's fate was sealed: its failure was answered, or the process that sent it was gone.
        var answeredAt: Date
        /// Running jobs already looked at and found not this one's.
        var ruledOut: Set<String> = []
        var looks = 0
        /// When the first look begun after `answeredAt` that found nothing of ours was answered:
        /// within the window, proof that the POST made nothing.
        var firstAbsentLook: Date?
    }

    /// In-flight jobs past a timeout: still asked about, slowly, but no longer holding a slot.
    var lingering: Set<Int64> = []

    /// Slots in use: submissions under way and jobs followed at their normal pace.
    var busy: Int { inFlight.count - lingering.count + submitting }
}

/// Polls due, earliest first (a binary heap with lazy deletion).
struct PollQueue: Sendable {
    private var heap: [(at: Date, id: Int64)] = []

    var isEmpty: Bool { heap.isEmpty }
    var earliest: Date? { heap.first?.at }

    mutating func push(_ id: Int64, at: Date) {
        heap.append((at, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (at: Date, id: Int64)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = parent * 2 + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
