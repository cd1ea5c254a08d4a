import Foundation
import LegnextSimulator
import Testing

@testable import QueueEngine

@Suite struct PollSchedulerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Durations like Legnext's diffusions, time-scaled: median 4 s, σ 0.3.
    static let durations: [Double] = {
        var generator = SimulatorRandom(seed: 7)
        return (0..<200).map { _ in generator.logNormal(median: 4, sigma: 0.3) }
    }()

    /// A scheduler that learnt `durations`, with `jobs` diffusions in flight.
    func scheduler(jobs: Int = 14, cap: Double? = nil) -> PollScheduler {
        var scheduler = PollScheduler(cap: cap)
        for d in Self.durations { scheduler.record(kind: "diffusion", duration: d) }
        for id in 0..<jobs { scheduler.follow(Int64(id), kind: "diffusion") }
        return scheduler
    }

    /// Poll offsets after submission of one job polled whenever the scheduler says, answered at once.
    func offsets(_ scheduler: PollScheduler, until end: Double, rate: Double) -> [Double] {
        var offsets: [Double] = []
        var seen = t0
        while offsets.count < 500 {
            let next = scheduler.nextPoll(kind: "diffusion", submittedAt: t0, seen: seen, polls: offsets.count, now: seen, rate: rate)
            offsets.append(next.timeIntervalSince(t0))
            if next.timeIntervalSince(t0) >= end { break }
            seen = next
        }
        return offsets
    }

    /// Polls per job and mean lag of a scheduler's offsets over the learnt durations.
    func measure(_ scheduler: PollScheduler, rate: Double) -> (polls: Double, lag: Double) {
        let schedule = offsets(scheduler, until: Self.durations.max()!, rate: rate)
        var polls = 0
        var lag = 0.0
        for d in Self.durations {
            let index = schedule.firstIndex { $0 >= d } ?? schedule.count - 1
            polls += index + 1
            lag += schedule[index] - d
        }
        return (Double(polls) / Double(Self.durations.count), lag / Double(Self.durations.count))
    }

    @Test func aKindNotLearntIsProbed() {
        var scheduler = PollScheduler()
        scheduler.follow(1, kind: "upscale")
        for polls in 0..<5 {
            let next = scheduler.nextPoll(kind: "upscale", submittedAt: t0, seen: t0, polls: polls, now: t0, rate: 50)
            #expect(next == scheduler.planner.nextPoll(kind: "upscale", submittedAt: t0, polls: polls, now: t0))
        }
    }

    @Test func aLargerAllowanceBuysMorePollsAndLessLag() {
        let scheduler = scheduler()
        let figures = [5.0, 20, 50, 200, 0].map { measure(scheduler, rate: $0) }
        // Rates 5 → unlimited: never fewer polls, never more lag, and the ends differ by a lot.
        for (lower, higher) in zip(figures, figures.dropFirst()) {
            #expect(higher.polls >= lower.polls && higher.lag <= lower.lag * 1.02, "\(figures)")
        }
        #expect(figures.last!.polls > 3 * figures.first!.polls && figures.last!.lag < figures.first!.lag / 4, "\(figures)")
        // Even a starved rate is polled no less than the planner's budget asks (2 per job).
        #expect(figures.first!.polls >= 1.9, "\(figures)")
    }

    @Test func theExpectedRequestsFitTheAllowance() {
        let scheduler = scheduler()
        for rate in [20.0, 50, 100] {
            let theta = scheduler.threshold(kind: "diffusion", now: t0, rate: rate)
            let index = PollScheduler.thresholds.lastIndex { $0 <= theta }!
            #expect(scheduler.requestRate(theta: index) <= scheduler.allowance(rate: rate)!, "at \(rate)/s")
            if index > 0 { #expect(scheduler.requestRate(theta: index - 1) > scheduler.allowance(rate: rate)!, "the lowest that fits") }
        }
    }

    @Test func fewerJobsInFlightAreEachPolledMoreOften() {
        let busy = scheduler(jobs: 30)
        var tail = busy
        for id in 2..<30 { tail.forget(Int64(id)) }
        let (many, few) = (measure(busy, rate: 50), measure(tail, rate: 50))
        #expect(few.polls > many.polls && few.lag < many.lag, "30 in flight \(many), 2 in flight \(few)")
    }

    @Test func pollsHonourTheCourtesyFloorAndTheCeiling() {
        let scheduler = scheduler(jobs: 1)
        let schedule = offsets(scheduler, until: 120, rate: 0)
        let floors = schedule.dropLast().map { scheduler.courtesyFloor(kind: "diffusion", age: $0)! }
        let gaps = zip(schedule, schedule.dropFirst()).map { $1 - $0 }
        #expect(zip(gaps, floors).allSatisfy { $0 >= $1 * 0.999 && $0 <= 30 }, "\(gaps)")
        // Unlimited, a job near its likely end is polled at the floor, 1/40 of the median ...
        #expect(zip(gaps, floors).contains { $0 < $1 * 1.01 } && floors.min()! < 0.12)
        // ... and one long past it no closer than 1/40 of its age.
        #expect(scheduler.courtesyFloor(kind: "diffusion", age: 80)! == 2)
        // Never in the past.
        let late = t0.addingTimeInterval(1000)
        let next = scheduler.nextPoll(kind: "diffusion", submittedAt: t0, seen: t0, polls: 1, now: late, rate: 0)
        #expect(next >= late.addingTimeInterval(scheduler.planner.floor))
    }

    @Test func theCapBoundsThePollsPerJob() {
        for cap in [2.0, 3] {
            let capped = measure(scheduler(cap: cap), rate: 0)
            #expect(capped.polls <= cap + 0.05, "cap \(cap): \(capped)")
        }
        #expect(measure(scheduler(), rate: 0).polls > 3)
    }

    @Test func aJobNearItsLikelyEndIsPolledBeforeAYoungOne() {
        let scheduler = scheduler()
        let now = t0.addingTimeInterval(10)
        // One submitted 3.5 s ago (near the 4 s median), one just now.
        let old = scheduler.nextPoll(kind: "diffusion", submittedAt: now.addingTimeInterval(-3.5), seen: now, polls: 2, now: now, rate: 50)
        let young = scheduler.nextPoll(kind: "diffusion", submittedAt: now, seen: now, polls: 0, now: now, rate: 50)
        #expect(old < young)
        #expect(
            old.timeIntervalSince(now) < 0.5 && young.timeIntervalSince(now) > 1,
            "old in \(old.timeIntervalSince(now)) s, young in \(young.timeIntervalSince(now)) s"
        )
    }

    @Test func pollsBeyondThePromiseRaiseTheThreshold() {
        var scheduler = scheduler()
        let calm = scheduler.threshold(kind: "diffusion", now: t0, rate: 50)
        // Sixty polls a second over the last ten seconds, well past what was promised.
        for tick in (0..<600).reversed() { scheduler.polled(at: t0.addingTimeInterval(-Double(tick) / 60)) }
        #expect(scheduler.threshold(kind: "diffusion", now: t0, rate: 50) > calm)
        // Forgotten once they are old.
        scheduler.polled(at: t0.addingTimeInterval(60))
        #expect(scheduler.threshold(kind: "diffusion", now: t0.addingTimeInterval(60), rate: 50) == calm)
    }

    @Test func atEqualPollsTheSharedRuleLagsNoMoreThanThePlannersBestPlan() {
        // The planner's family saturates (it cannot spend much over 5 polls); the threshold rule
        // spends what it is given and, at equal polls, lags about as little or less.
        let plan = PollPlanner.bestPlan(for: Self.durations, budget: 4, floor: 0.05, ceiling: 30)
        let planned = PollPlanner.evaluate(plan, durations: Self.durations, floor: 0.05, ceiling: 30)
        let scheduler = scheduler(cap: planned.polls)
        let shared = measure(scheduler, rate: 0)
        #expect(shared.polls <= planned.polls + 0.05 && shared.lag <= planned.lag * 1.05, "planner \(planned), shared \(shared)")
    }
}
