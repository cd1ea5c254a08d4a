import Foundation
import LegnextAPI
import QueueSupport

/// An accepted job's life at Legnext, from the answer that gave it a Legnext id to its end, as
/// a pure state machine. Each event is given `now` (and any randomness) and returns the actions
/// the engine carries out, in order; nothing here does I/O, so every rule below is tested
/// transition by transition (RemoteJobLifecycleTests).
///
/// The rules (DESIGN §4, "following"):
/// - Legnext's status only moves forward (``LegnextJobStatus/isAhead(of:)``); an older answer
///   changes nothing but the next poll time.
/// - An end Legnext reports is written before the job leaves the engine's table
///   (``Action/recordEnd``): the engine is never idle while an end is unwritten.
/// - Waiting in Legnext's own queue (`pending`) is not a stall: the no-progress clock starts
///   when the job leaves it.
/// - A job past a timeout is paid for and never dropped: it gives its slot to the next job
///   (``Action/releaseSlot(note:)``) and is still asked about every `lingerPollInterval`, until
///   `lingerLimit` after submission, when it ends `failed` with a reason that says it may still
///   finish and charge.
/// - A poll that was not answered is asked again later; with no answer for `giveUpAfter` after
///   submission the job ends `failed`.
struct RemoteJobLifecycle: Sendable {
    /// The timeouts a job is held to (from ``EngineConfiguration``).
    struct Limits: Sendable {
        var giveUpAfter: TimeInterval
        var noProgressTimeout: TimeInterval
        var lingerPollInterval: TimeInterval
        var lingerLimit: TimeInterval
        var retries: Backoff

        init(_ configuration: EngineConfiguration) {
            giveUpAfter = configuration.giveUpAfter
            noProgressTimeout = configuration.noProgressTimeout
            lingerPollInterval = configuration.lingerPollInterval
            lingerLimit = configuration.lingerLimit
            retries = configuration.retries
        }

        init(
            giveUpAfter: TimeInterval,
            noProgressTimeout: TimeInterval,
            lingerPollInterval: TimeInterval,
            lingerLimit: TimeInterval,
            retries: Backoff = .transient
        ) {
            self.giveUpAfter = giveUpAfter
            self.noProgressTimeout = noProgressTimeout
            self.lingerPollInterval = lingerPollInterval
            self.lingerLimit = lingerLimit
            self.retries = retries
        }
    }

    /// What the engine does after an event, in this order.
    enum Action: Sendable, Equatable {
        /// Put a poll of the job on the schedule at this time (the in-memory heap).
        case schedulePoll(at: Date)
        /// Write the status Legnext reports and the next poll time to the row.
        case recordStatus(LegnextJobStatus, nextPollAt: Date)
        /// Write that a poll failed (the note, when there is one) and the next poll time.
        case recordProblem(note: String?, nextPollAt: Date)
        /// Write the end Legnext reported (outputs or its error), then stop following the job.
        case recordEnd
        /// Write the job `failed` with this reason, then stop following it.
        case fail(String)
        /// The job passed a timeout: its slot goes to the next job; log and record the note.
        case releaseSlot(note: String)
    }

    /// Why a poll brought no Job object.
    enum PollFailure: Sendable, Equatable {
        /// 401/402/403: the account, not the job (submissions pause meanwhile).
        case account
        /// 429, with the server's `Retry-After` when it gave one.
        case rateLimited(retryAfter: TimeInterval?)
        /// A 5xx or a connection failure.
        case transient
    }

    private enum State: Sendable, Equatable {
        /// Waiting for its next poll, due at this time.
        case scheduled(Date)
        /// A poll is under way.
        case asking
        /// Its end is being written (or was): no more polls.
        case ended
    }

    let id: Int64
    let kind: String
    let remoteJobId: String
    let submittedAt: Date
    /// The furthest status Legnext has reported.
    private(set) var status: LegnextJobStatus
    /// When Legnext last reported progress (the no-progress clock).
    private(set) var progressAt: Date
    /// Polls made (answered or not), for the planner.
    private(set) var polls = 0
    /// Polls in a row that brought no answer, for their backoff: one 5xx after many answered
    /// polls waits about a second, not the backoff of the poll count.
    private(set) var failuresInARow = 0
    /// Past a timeout: no longer holding a concurrency slot.
    private(set) var isLingering = false
    private let limits: Limits
    private var state: State

    init(
        id: Int64,
        kind: String,
        remoteJobId: String,
        status: LegnextJobStatus,
        submittedAt: Date,
        progressAt: Date? = nil,
        firstPoll: Date,
        limits: Limits
    ) {
        self.id = id
        self.kind = kind
        self.remoteJobId = remoteJobId
        self.status = status.isFinal ? .pending : status
        self.submittedAt = submittedAt
        self.progressAt = progressAt ?? submittedAt
        self.limits = limits
        self.state = .scheduled(firstPoll)
    }

    /// When the next poll is due, while one is scheduled.
    var nextPoll: Date? {
        if case .scheduled(let at) = state { return at }
        return nil
    }

    var isEnded: Bool { state == .ended }

    // MARK: Events

    /// A schedule entry for `at` came due. True when it is this job's current poll (not a
    /// stale entry of an earlier schedule): the poll starts.
    mutating func pollDue(scheduledAt at: Date) -> Bool {
        guard state == .scheduled(at) else { return false }
        state = .asking
        return true
    }

    /// A callback says the job finished: ask now rather than at the planned time. Returns the
    /// actions (none when a poll is already due or under way).
    mutating func finishedByCallback(now: Date) -> [Action] { pollSooner(at: now) }

    /// Brings the next poll forward to `at` (Legnext's list of running jobs shows the job ended,
    /// or the list is gone and the plan asks sooner than its safety net). Returns the actions
    /// (none when a poll is already due by then or under way).
    mutating func pollSooner(at: Date) -> [Action] {
        guard case .scheduled(let planned) = state, planned > at else { return [] }
        state = .scheduled(at)
        return [.schedulePoll(at: at)]
    }

    /// Legnext's list of running jobs shows the job at `listed`: further along, it is recorded
    /// as a poll's answer would be (an end is not: only a GET brings the result).
    mutating func listed(_ listed: LegnextJobStatus, now: Date) -> [Action] {
        guard case .scheduled(let next) = state, !listed.isFinal, listed.isAhead(of: status) else { return [] }
        status = listed
        progressAt = now
        return [.recordStatus(listed, nextPollAt: next)]
    }

    /// A poll (or a confirming GET) answered with the job at `answer`. `nextPlanned` is the
    /// planner's time for poll number `polls` (counted after this one).
    mutating func answered(_ answer: LegnextJobStatus, now: Date, nextPlanned: (_ polls: Int) -> Date) -> [Action] {
        guard state != .ended else { return [] }
        failuresInARow = 0
        if answer.isFinal {
            polls += 1
            state = .ended
            return [.recordEnd]
        }
        var actions: [Action] = []
        let progressed = answer.isAhead(of: status)
        let clockFrom = progressed || answer == .pending ? now : progressAt
        if let timeout = timeoutPassed(progressAt: clockFrom, status: answer, now: now) {
            guard now.timeIntervalSince(submittedAt) < limits.lingerLimit else {
                state = .ended
                return [
                    .fail(
                        "gave up: Legnext had not finished it \(Self.minutes(limits.lingerLimit)) after submission; it may still finish and charge it"
                    )
                ]
            }
            if !isLingering {
                isLingering = true
                let every = Self.minutes(limits.lingerPollInterval)
                actions.append(.releaseSlot(note: "\(timeout); its slot goes to the next job, and it is still asked about every \(every)"))
            }
        }
        polls += 1
        if progressed {
            status = answer
            progressAt = now
        }
        let next = isLingering ? now.addingTimeInterval(limits.lingerPollInterval) : nextPlanned(polls)
        state = .scheduled(next)
        actions += [.schedulePoll(at: next), .recordStatus(answer, nextPollAt: next)]
        return actions
    }

    /// A poll brought no Job object. `jitter` in [0, 1) spreads the backoff of many jobs.
    mutating func pollFailed(_ failure: PollFailure, note: String?, now: Date, jitter: Double) -> [Action] {
        guard state != .ended else { return [] }
        if now.timeIntervalSince(submittedAt) > limits.giveUpAfter {
            state = .ended
            return [.fail("gave up: no answer about it for \(Self.minutes(limits.giveUpAfter)) (--give-up-after)")]
        }
        let delay: TimeInterval =
            switch failure {
            case .account: Backoff.accountProbe.delay(attempt: failuresInARow + 1, random: jitter)
            case .rateLimited(let retryAfter): retryAfter ?? 1
            case .transient: limits.retries.delay(attempt: min(failuresInARow + 1, 4), random: jitter)
            }
        polls += 1
        failuresInARow += 1
        let next = now.addingTimeInterval(delay)
        state = .scheduled(next)
        return [.schedulePoll(at: next), .recordProblem(note: note, nextPollAt: next)]
    }

    /// Legnext answered that it cannot report the job (a 4xx other than the account's).
    mutating func unknownToLegnext(_ failure: String) -> [Action] {
        guard state != .ended else { return [] }
        state = .ended
        return [.fail("Legnext cannot report job \(remoteJobId): \(failure)")]
    }

    // MARK: Rules

    /// Which timeout a job still running at Legnext has passed, if any.
    private func timeoutPassed(progressAt: Date, status: LegnextJobStatus, now: Date) -> String? {
        if now.timeIntervalSince(submittedAt) > limits.giveUpAfter {
            return "not finished \(Self.minutes(limits.giveUpAfter)) after submission (--give-up-after)"
        }
        if now.timeIntervalSince(progressAt) > limits.noProgressTimeout {
            return "no progress: \(status.rawValue) for \(Self.minutes(limits.noProgressTimeout)) (--no-progress-timeout)"
        }
        return nil
    }

    static func minutes(_ seconds: TimeInterval) -> String {
        seconds >= 120 ? "\(Int(seconds / 60))m" : "\(Int(seconds))s"
    }
}
