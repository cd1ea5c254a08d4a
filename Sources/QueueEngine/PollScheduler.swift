import Foundation

/// When to poll each in-flight job, decided for all of them together (DESIGN §5, "seeing
/// completions"): the user's time is the objective, the request rate the constraint.
///
/// Each poll goes where it buys the most lag: a job is polled once the lag it would have run up,
/// had it ended since it was last seen unfinished, reaches a threshold θ (seconds) shared by every
/// job, `E[(t − T)⁺ | T > last] ≥ θ` for its kind's duration `T`. Minimising expected lag for a
/// given number of polls asks for gaps ∝ 1/√hazard, and this rule gives exactly that (a gap `g`
/// near the hazard `h` runs up `h·g²/2`): young jobs wait, jobs near their likely end are polled
/// often. θ is solved, from the jobs in flight, so that the expected poll rate fits a share of
/// the request rate left after submissions; fewer jobs in flight (the end of a batch) means a
/// lower θ and closer polls. Never two polls of one job closer than a courtesy floor, nor
/// further apart than a ceiling; `cap` (`--poll-budget`), when set, bounds the expected polls
/// per job. A kind whose durations are not learnt yet is probed (``PollPlanner/probePlan``).
///
/// A pure value: every call says what time it is and what rate is in force.
public struct PollScheduler: Sendable {
    /// The learnt durations and plans; its plans still time the safety-net polls of jobs
    /// followed by callbacks or Legnext's list of running jobs, and probe unknown kinds.
    public private(set) var planner: PollPlanner
    /// Expected polls per job at most (`--poll-budget`); nil: as many as the rate allows.
    public var cap: Double?
    /// The share of the request rate the jobs in flight are planned on, their polls and the
    /// submissions that refill their slots; the rest is left to looks at the list, balance
    /// probes, bursts of ends and the model's errors (the rate limiter holds the line anyway).
    public var headroom = 2.0 / 3
    /// Expected polls per job never fewer than this (the fixed plans' old default), however
    /// scarce the rate: the rate limiter, where polls go first, holds the line then.
    public var leastPolls = 2.0
    /// The courtesy floor between two polls of one job, as a share of its kind's median or of
    /// the job's age if longer (never under the planner's absolute floor): 1 s for a 40 s job,
    /// 15 s for one still running after 10 minutes.
    public var courtesyShare = 1.0 / 40

    /// A kind's durations as a distribution: a log-normal fitted to the samples, mixed with a
    /// wider one of the same median so a job outliving the fit is not taken for certainly done
    /// (the first samples are the shortest jobs: they end first).
    struct Model: Sendable {
        var mu: Double
        var sigma: Double
        var wideSigma: Double
        var wideShare: Double
        var median: Double
        var mean: Double
        /// Expected polls per job of this kind at each threshold of ``PollScheduler/thresholds``.
        var pollsPerJob: [Double]
        /// Expected seconds a job holds its slot (its duration and the lag), at each threshold.
        var cycle: [Double]

        init(durations: [Double], floor: Double, courtesyShare: Double, ceiling: Double) {
            let logs = durations.map { log(max($0, 1e-3)) }
            let n = Double(logs.count)
            let center = logs.reduce(0, +) / n
            let variance = logs.reduce(0) { $0 + ($1 - center) * ($1 - center) } / max(1, n - 1)
            mu = center
            sigma = max(0.1, variance.squareRoot())
            wideSigma = max(1, 3 * sigma)
            wideShare = 0.1
            median = exp(mu)
            mean = max(1e-3, durations.reduce(0, +) / n)
            pollsPerJob = []
            cycle = []
            let sorted = durations.sorted()
            for theta in PollScheduler.thresholds {
                let offsets = schedule(theta: theta, until: sorted.last ?? 0, floor: floor, courtesyShare: courtesyShare, ceiling: ceiling)
                var polls = 0
                var seen = 0.0
                var index = 0
                for d in sorted {
                    while index < offsets.count - 1, offsets[index] < d { index += 1 }
                    polls += index + 1
                    seen += max(d, offsets[index])
                }
                pollsPerJob.append(Double(polls) / max(1, n))
                cycle.append(max(1e-3, seen / max(1, n)))
            }
        }

        /// P(T > t).
        func survival(_ t: Double) -> Double {
            guard t > 0 else { return 1 }
            let z = log(t) - mu
            return (1 - wideShare) * Self.upper(z / sigma) + wideShare * Self.upper(z / wideSigma)
        }

        /// E[(T − t)⁺] = ∫ₜ^∞ P(T > u) du.
        func excess(_ t: Double) -> Double {
            func part(_ s: Double) -> Double {
                let m = exp(mu + s * s / 2)
                guard t > 0 else { return m }
                let z = (log(t) - mu) / s
                return m * Self.upper(z - s) - t * Self.upper(z)
            }
            return (1 - wideShare) * part(sigma) + wideShare * part(wideSigma)
        }

        /// The lag a job still running at `from` (seconds after submission) runs up by `to`,
        /// if it ended in between: E[(to − T)⁺ | T > from]. Nil when the model holds no
        /// chance of it running that long.
        func lagRunUp(from: Double, to: Double) -> Double? {
            let alive = survival(from)
            guard alive > 1e-200 else { return nil }
            return max(0, (to - from) - (excess(from) - excess(to)) / alive)
        }

        /// Seconds after `from` of the next poll at threshold `theta`, within `[gapFloor, ceiling]`.
        func gap(from: Double, theta: Double, gapFloor: Double, ceiling: Double) -> Double {
            let high = max(gapFloor, ceiling)
            guard let atHigh = lagRunUp(from: from, to: from + high), atHigh > theta else { return high }
            if let atFloor = lagRunUp(from: from, to: from + gapFloor), atFloor >= theta { return gapFloor }
            var (low, up) = (gapFloor, high)
            for _ in 0..<40 {
                let middle = (low + up) / 2
                if (lagRunUp(from: from, to: from + middle) ?? .infinity) >= theta { up = middle } else { low = middle }
                if up - low < 1e-3 * gapFloor { break }
            }
            return up
        }

        /// The courtesy floor after a poll `age` seconds after submission: a share of the
        /// median or of the age, whichever is longer (a job long past its likely end is not
        /// polled ever closer), never under `floor`.
        func courtesy(age: Double, floor: Double, share: Double) -> Double { max(floor, share * max(median, age)) }

        /// Poll offsets after submission at threshold `theta`, up to the first at or past `until`.
        func schedule(theta: Double, until: Double, floor: Double, courtesyShare: Double, ceiling: Double) -> [Double] {
            var offsets: [Double] = []
            var t = 0.0
            repeat {
                let gapFloor = offsets.isEmpty ? floor : courtesy(age: t, floor: floor, share: courtesyShare)
                t += gap(from: t, theta: theta, gapFloor: gapFloor, ceiling: ceiling)
                offsets.append(t)
            } while t < until && offsets.count < 500
            return offsets
        }

        static func upper(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }
    }

    /// The thresholds θ (seconds of lag) θ is chosen among: 10 µs to 100 s, five a decade.
    static let thresholds: [Double] = (0...35).map { 1e-5 * pow(10, Double($0) / 5) }

    private var models: [String: Model] = [:]
    /// Jobs in flight, by kind: the load θ is solved for.
    private var inFlight: [String: Int] = [:]
    private var kinds: [Int64: String] = [:]
    /// Polls made recently (the guard on the rate the model promised).
    private var recent: [Date] = []
    private var recentStart = 0

    /// A scheduler over `planner`'s durations; with a `cap`, the planner's plans aim at it too.
    public init(planner: PollPlanner = PollPlanner(), cap: Double? = nil) {
        self.planner = planner
        self.cap = cap
        if let cap { self.planner.budget = cap }
        for kind in planner.kinds { learn(kind) }
    }

    /// The scheduler `configuration` asks for, with nothing learnt yet.
    init(_ configuration: EngineConfiguration) {
        self.init(cap: configuration.pollBudget)
    }

    // MARK: Events

    /// Learns from a completed job (see ``PollPlanner/record(kind:duration:polls:)``).
    public mutating func record(kind: String, duration: Double, polls: Int? = nil) {
        if planner.record(kind: kind, duration: duration, polls: polls) { learn(kind) }
    }

    /// A job is in flight (submitted, adopted or recovered): it counts in the load.
    public mutating func follow(_ id: Int64, kind: String) {
        guard kinds[id] == nil else { return }
        kinds[id] = kind
        inFlight[kind, default: 0] += 1
    }

    /// A job is no longer in flight.
    public mutating func forget(_ id: Int64) {
        guard let kind = kinds.removeValue(forKey: id) else { return }
        inFlight[kind, default: 1] -= 1
        if inFlight[kind] == 0 { inFlight[kind] = nil }
    }

    /// A poll was sent at `now`.
    public mutating func polled(at now: Date) {
        recent.append(now)
        // Polls older than the longest window (30 s) are dropped, a half at a time.
        let cut = now.addingTimeInterval(-30)
        while recentStart < recent.count, recent[recentStart] <= cut { recentStart += 1 }
        if recentStart > recent.count / 2 {
            recent.removeFirst(recentStart)
            recentStart = 0
        }
    }

    // MARK: Decisions

    /// When to poll next a job of `kind` submitted at `submittedAt` and last seen unfinished at
    /// `seen` (its submission, or a poll's answer), after `polls` polls; never before
    /// `now + floor`. `rate`: requests per second in force now (0 = unlimited).
    public func nextPoll(kind: String, submittedAt: Date, seen: Date, polls: Int, now: Date, rate: Double) -> Date {
        guard let model = models[kind] else { return planner.nextPoll(kind: kind, submittedAt: submittedAt, polls: polls, now: now) }
        let from = max(0, seen.timeIntervalSince(submittedAt))
        let gapFloor = polls == 0 ? planner.floor : model.courtesy(age: from, floor: planner.floor, share: courtesyShare)
        let gap = model.gap(from: from, theta: threshold(kind: kind, now: now, rate: rate), gapFloor: gapFloor, ceiling: planner.ceiling)
        return max(submittedAt.addingTimeInterval(from + gap), now.addingTimeInterval(planner.floor))
    }

    /// The courtesy floor after a poll of a job of `kind` `age` seconds after its submission
    /// (nil while the kind is probed).
    public func courtesyFloor(kind: String, age: Double) -> Double? {
        models[kind]?.courtesy(age: age, floor: planner.floor, share: courtesyShare)
    }

    /// Requests per second the jobs in flight are planned on, polls and the submissions that
    /// refill their slots: `headroom` of `rate`; nil when unlimited.
    public func allowance(rate: Double) -> Double? { rate > 0 ? headroom * rate : nil }

    /// The requests per second the jobs in flight need if each is polled at threshold number
    /// `index`: by Little's law each slot turns over once a cycle (the job's time and its lag),
    /// for the job's polls and the next job's submission. `polls`: the polls alone.
    func requestRate(theta index: Int, polls: Bool = false) -> Double {
        inFlight.reduce(0.0) { sum, entry in
            guard let model = models[entry.key] else { return sum }
            return sum + Double(entry.value) * (model.pollsPerJob[index] + (polls ? 0 : 1)) / model.cycle[index]
        }
    }

    /// The threshold (seconds of lag) a job of `kind` is polled at now: the lowest whose
    /// requests fit the allowance, raised when the polls made outran the model's promise; never
    /// fewer than ``leastPolls`` per job, never more than `cap`.
    public func threshold(kind: String, now: Date, rate: Double) -> Double {
        var index = 0
        var theta = Self.thresholds[0]
        if let allowance = allowance(rate: rate) {
            while index < Self.thresholds.count - 1, requestRate(theta: index) > allowance { index += 1 }
            theta = Self.thresholds[index]
            // The model's promise checked against the polls made: past it, fewer (rate ∝ 1/√θ).
            let promised = max(requestRate(theta: index, polls: true), 0.05 * allowance)
            let window = min(30, max(1, 20 / promised))
            let cut = now.addingTimeInterval(-window)
            let made = Double(recent[recentStart...].reversed().prefix { $0 > cut }.count)
            let over = made / window / promised
            if over > 1 { theta *= min(100, over * over) }
        }
        guard let model = models[kind] else { return theta }
        // The cap holds over the run: what the first jobs over-spent (probed, or polled before
        // the long ones were learnt) lowers it for a while (``PollPlanner/currentBudget(kind:)``).
        let cap = cap.map { min($0, planner.currentBudget(kind: kind)) }
        if let eager = model.pollsPerJob.lastIndex(where: { $0 >= min(leastPolls, cap ?? leastPolls) }) {
            theta = min(theta, Self.thresholds[eager])
        }
        if let cap {
            let capped = model.pollsPerJob.firstIndex { $0 <= cap } ?? Self.thresholds.count - 1
            theta = max(theta, Self.thresholds[capped])
        }
        return theta
    }

    /// Expected polls per job of `kind` at the threshold in force (nil while it is probed).
    public func expectedPolls(kind: String, now: Date, rate: Double) -> Double? {
        guard let model = models[kind] else { return nil }
        let theta = threshold(kind: kind, now: now, rate: rate)
        let index = Self.thresholds.lastIndex { $0 <= theta } ?? 0
        return model.pollsPerJob[index]
    }

    private mutating func learn(_ kind: String) {
        guard planner.hasLearned(kind: kind), let durations = planner.durations(kind: kind), !durations.isEmpty else { return }
        models[kind] = Model(durations: durations, floor: planner.floor, courtesyShare: courtesyShare, ceiling: planner.ceiling)
    }
}
