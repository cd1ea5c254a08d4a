import Foundation

/// The least completion lag *any* polling schedule can reach for log-normal job times, given an
/// average number of GETs per job: what the polling drain is up against, whatever the planner.
///
/// A schedule is a list of poll times t₁ < t₂ < … after submission; a job of time x is seen at
/// the first tᵢ ≥ x, after i GETs, lag tᵢ − x. Past the last poll a job is taken as seen the
/// moment it ends for one more GET, which only flatters the schedule: the result is a lower
/// bound. The schedule minimising E[lag] + λ·E[GETs] is found by coordinate descent, and λ by
/// bisection until E[GETs] meets the budget.
struct PollingBound {
    /// Job times on a fine grid (median 1), with their probabilities and prefix sums.
    private let times: [Double]
    private let mass: [Double]
    private let weightedTimes: [Double]
    let mean: Double

    init(sigma: Double, points: Int = 20_000) {
        var times: [Double] = []
        var weights: [Double] = []
        let low = -7 * sigma
        let high = 7 * sigma
        for index in 0..<points {
            let z = low + (high - low) * (Double(index) + 0.5) / Double(points)
            times.append(exp(z))
            weights.append(exp(-z * z / (2 * sigma * sigma)))  // density of log x: uniform steps in log x
        }
        let total = weights.reduce(0, +)
        var mass = [0.0]
        var weighted = [0.0]
        for (time, weight) in zip(times, weights) {
            mass.append(mass.last! + weight / total)
            weighted.append(weighted.last! + weight / total * time)
        }
        self.times = times
        self.mass = mass
        self.weightedTimes = weighted
        self.mean = weighted.last!
    }

    /// Smallest E[lag] ÷ E[job time] with E[GETs] ≤ `gets`.
    func lagShare(gets budget: Double) -> Double {
        var low = 0.0
        var high = 2.0
        var best = Double.infinity
        for _ in 0..<40 {
            let lambda = (low + high) / 2
            let (gets, lag) = evaluate(optimise(lambda: lambda))
            if gets <= budget {
                best = min(best, lag)
                high = lambda
            } else {
                low = lambda
            }
        }
        return best / mean
    }

    /// Index of the first grid time above `t`.
    private func firstAbove(_ t: Double) -> Int {
        var low = 0
        var high = times.count
        while low < high {
            let middle = (low + high) / 2
            if times[middle] <= t { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// (E[GETs], E[lag]) of a schedule.
    func evaluate(_ schedule: [Double]) -> (gets: Double, lag: Double) {
        var gets = 0.0
        var lag = 0.0
        var from = 0
        for (index, t) in schedule.enumerated() {
            let to = firstAbove(t)
            let share = mass[to] - mass[from]
            gets += Double(index + 1) * share
            lag += t * share - (weightedTimes[to] - weightedTimes[from])
            from = to
        }
        gets += Double(schedule.count + 1) * (1 - mass[from])
        return (gets, lag)
    }

    private func optimise(lambda: Double, polls: Int = 14) -> [Double] {
        var schedule = (1...polls).map { 0.6 + 1.4 * Double($0) / Double(polls) }
        func cost(_ s: [Double]) -> Double {
            let (gets, lag) = evaluate(s)
            return lag + lambda * gets
        }
        for _ in 0..<60 {
            for index in schedule.indices {
                var a = index == 0 ? times.first! : schedule[index - 1]
                var b = index == schedule.count - 1 ? times.last! : schedule[index + 1]
                // Golden-section search of this poll's time between its neighbours.
                let ratio = (5.0.squareRoot() - 1) / 2
                for _ in 0..<40 {
                    let c = b - ratio * (b - a)
                    let d = a + ratio * (b - a)
                    schedule[index] = c
                    let costC = cost(schedule)
                    schedule[index] = d
                    if costC < cost(schedule) { b = d } else { a = c }
                }
                schedule[index] = (a + b) / 2
            }
        }
        return schedule
    }
}
