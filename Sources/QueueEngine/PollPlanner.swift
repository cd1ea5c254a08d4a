import Foundation

/// When to ask Legnext about a job, learned from how long recent jobs of the same kind took.
///
/// Polling trades requests for lag: a poll too early is a wasted request, a poll too late
/// holds a concurrency slot idle. The planner keeps the last durations of each kind and picks,
/// among a small family of schedules (a first poll, then steps that may widen), the one with
/// the least expected lag whose expected number of polls per job stays within `budget`. A pure
/// value: no clock, no I/O.
public struct PollPlanner: Sendable {
    /// A schedule, in seconds after submission: `first`, then gaps of `step`, `step·growth`, ….
    public struct Plan: Sendable, Hashable {
        public var first: Double
        public var step: Double
        public var growth: Double
    }

    /// Average GET requests per job the planner's plans aim at: the plans of the safety-net
    /// polls (with callbacks, or the list of running jobs watched); per-job polling is placed by
    /// ``PollScheduler``, where `--poll-budget` is only an optional cap.
    public var budget: Double
    /// No two polls of one job closer than this.
    public var floor: Double
    /// No two polls of one job further apart than this (Legnext suggests 10–30 s).
    public var ceiling: Double
    /// Until this many durations of a kind are known, probe with ``probePlan``.
    public var minimumSamples = 5
    /// Durations kept per kind.
    public var window = 200

    /// Over-spent polls are paid back over this many jobs (lowering the budget the plans aim at).
    public var repayment = 200.0

    private var samples: [String: [Double]] = [:]
    private var plans: [String: Plan] = [:]
    private var sinceReplan: [String: Int] = [:]
    /// Polls this run spent on finished jobs, and those jobs: the budget holds over the run,
    /// not only in the plans' expectation (the first plans learn from the shortest jobs).
    private var spent: [String: (polls: Int, jobs: Int)] = [:]

    /// Used while a kind's durations are unknown: early, then widening, so a 2-second simulated
    /// job and a 60-second real one are both found without many wasted polls.
    public static let probePlan = Plan(first: 1, step: 1, growth: 1.4)

    public init(budget: Double = 2, floor: Double = 0.05, ceiling: Double = 30) {
        self.budget = budget
        self.floor = floor
        self.ceiling = ceiling
    }

    /// Learns from a completed job: how long it took from submission to completion and, for a
    /// job of this run, how many polls it took (nil for durations read back at start-up).
    /// Returns whether the kind's plan was made again (its samples about doubled, or 32 more).
    @discardableResult
    public mutating func record(kind: String, duration: Double, polls: Int? = nil) -> Bool {
        guard duration.isFinite, duration >= 0 else { return false }
        if let polls {
            let sofar = spent[kind, default: (0, 0)]
            spent[kind] = (sofar.polls + polls, sofar.jobs + 1)
        }
        var list = samples[kind, default: []]
        list.append(duration)
        if list.count > window { list.removeFirst(list.count - window) }
        samples[kind] = list
        sinceReplan[kind, default: 0] += 1
        // Early plans learn from the jobs that finished first, the short ones: replan each time
        // the samples about double (5, 9, 17, 33, 65), then every 32.
        if list.count >= minimumSamples, plans[kind] == nil || sinceReplan[kind]! >= min(32, list.count / 2) {
            plans[kind] = Self.bestPlan(for: list, budget: currentBudget(kind: kind), floor: floor, ceiling: ceiling)
            sinceReplan[kind] = 0
            return true
        }
        return false
    }

    /// The budget the next plan of `kind` aims at: `budget`, less what this run over-spent,
    /// paid back over ``repayment`` jobs, never below three quarters of it.
    public func currentBudget(kind: String) -> Double {
        guard let (polls, jobs) = spent[kind] else { return budget }
        let debt = Double(polls) - budget * Double(jobs)
        guard debt > 0 else { return budget }
        return max(budget * 0.75, budget - debt / repayment)
    }

    public func plan(for kind: String) -> Plan { plans[kind] ?? Self.probePlan }

    /// Whether `kind` has a plan learnt from its durations (else it is probed).
    public func hasLearned(kind: String) -> Bool { plans[kind] != nil }

    /// Seconds after submission of poll number `index` (0 = the first).
    public func offset(kind: String, poll index: Int) -> Double {
        Self.offset(plan(for: kind), index: index, floor: floor, ceiling: ceiling)
    }

    /// The time of the next poll of a job submitted at `submittedAt` that has been polled
    /// `polls` times, never before `now + floor`.
    public func nextPoll(kind: String, submittedAt: Date, polls: Int, now: Date) -> Date {
        let planned = submittedAt.addingTimeInterval(offset(kind: kind, poll: polls))
        return max(planned, now.addingTimeInterval(floor))
    }

    /// The known durations of `kind` (the last ``window``), oldest first.
    public func durations(kind: String) -> [Double]? { samples[kind] }

    /// Every kind with a known duration.
    public var kinds: [String] { samples.keys.sorted() }

    /// The shortest known duration of `kind`, if any.
    public func shortestDuration(kind: String) -> Double? { samples[kind]?.min() }

    /// The shortest known duration of every kind with one.
    public var shortestDurations: [String: Double] { samples.compactMapValues { $0.min() } }

    /// The median of known durations of `kind`, if any.
    public func typicalDuration(kind: String) -> Double? {
        guard let list = samples[kind], !list.isEmpty else { return nil }
        return list.sorted()[list.count / 2]
    }

    static func offset(_ plan: Plan, index: Int, floor: Double, ceiling: Double) -> Double {
        var t = plan.first
        var gap = plan.step
        var i = 0
        while i < index {
            t += min(ceiling, max(floor, gap))
            gap *= plan.growth
            i += 1
        }
        return t
    }

    /// Expected polls per job and expected lag (seconds) of `plan` over `durations`.
    static func evaluate(_ plan: Plan, durations: [Double], floor: Double, ceiling: Double) -> (polls: Double, lag: Double) {
        var polls = 0.0
        var lag = 0.0
        for d in durations {
            var t = plan.first
            var gap = plan.step
            var n = 1
            while t < d, n < 500 {
                t += min(ceiling, max(floor, gap))
                gap *= plan.growth
                n += 1
            }
            polls += Double(n)
            lag += t - d
        }
        let count = Double(max(1, durations.count))
        return (polls / count, lag / count)
    }

    static func bestPlan(for durations: [Double], budget: Double, floor: Double, ceiling: Double) -> Plan {
        let sorted = durations.sorted()
        let median = max(sorted[sorted.count / 2], 0.01)
        var best: (plan: Plan, polls: Double, lag: Double)?
        for firstShare in stride(from: 0.5, through: 1.4, by: 0.05) {
            for stepShare in [0.04, 0.07, 0.1, 0.15, 0.2, 0.3] {
                // Widening gaps only: the durations learned first are the short ones (the long
                // ones have not finished yet), and a fixed gap would spend many polls on the tail.
                for growth in [1.25, 1.5, 1.8] {
                    let plan = Plan(first: median * firstShare, step: median * stepShare, growth: growth)
                    let (polls, lag) = evaluate(plan, durations: sorted, floor: floor, ceiling: ceiling)
                    let fits = polls <= budget
                    guard let current = best else {
                        best = (plan, polls, lag)
                        continue
                    }
                    let currentFits = current.polls <= budget
                    if fits && (!currentFits || lag < current.lag) || !fits && !currentFits && polls < current.polls {
                        best = (plan, polls, lag)
                    }
                }
            }
        }
        return best!.plan
    }
}
