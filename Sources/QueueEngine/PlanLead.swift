import Foundation

/// How many jobs are kept waiting in Legnext's own queue beyond the plan's limit: a slot freed
/// at Legnext is refilled there at once, whatever our lag in seeing the job that freed it. The
/// queue runs dry when more jobs end within one lag than wait in it, so the lead is the jobs
/// that end, at the plan's pace, within the 90th percentile of the recent completion lags
/// (growing at once, shrinking with a margin);
/// never under ``initial(plan:)`` nor over ``cap(plan:)`` (Midjourney queues are short, and a
/// job waiting there is one another client of the account waits behind). A pure value.
public struct PlanLead: Sendable {
    /// Jobs the plan runs at once.
    public let plan: Int
    /// Jobs kept waiting beyond it now.
    public private(set) var current: Int
    /// Lags kept (seconds from Legnext's end of a job to our seeing it).
    public static let window = 50
    /// Lags needed before the lead moves from where it started.
    public static let minimumSamples = 10
    private var lags: [Double] = []

    public init(plan: Int) {
        self.plan = plan
        current = Self.initial(plan: plan)
    }

    /// Before any lag is known: a quarter of the plan (a lag of a quarter of a job), at most 4.
    public static func initial(plan: Int) -> Int { min(4, (plan + 3) / 4) }

    /// The most kept waiting: half the plan, at most 4, never under the start.
    public static func cap(plan: Int) -> Int { max(initial(plan: plan), min(4, plan / 2)) }

    /// Learns one completion's lag; `typical` is a typical job's length. True when the lead changed.
    public mutating func record(lag: Double, typical: Double?) -> Bool {
        guard lag.isFinite else { return false }
        lags.append(max(0, lag))
        if lags.count > Self.window { lags.removeFirst(lags.count - Self.window) }
        guard lags.count >= Self.minimumSamples, let typical, typical > 0 else { return false }
        guard let p90 = lagP90 else { return false }
        func needed(_ lag: Double) -> Int {
            min(Self.cap(plan: plan), max(Self.initial(plan: plan), Int((lag * Double(plan) / typical).rounded(.up))))
        }
        // It grows at once and shrinks only once half as much lag again would not need it: a
        // lag near a boundary does not make it flap.
        let lead = needed(p90) > current ? needed(p90) : min(current, needed(p90 * 1.5))
        defer { current = lead }
        return lead != current
    }

    /// The 90th percentile of the lags kept, if any.
    public var lagP90: Double? {
        guard !lags.isEmpty else { return nil }
        let sorted = lags.sorted()
        return sorted[min(sorted.count - 1, sorted.count * 9 / 10)]
    }
}
