import Foundation
import LegnextSimulator
import Testing

@testable import QueueEngine

@Suite struct PollPlannerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func probesUntilItHasLearned() {
        let planner = PollPlanner()
        let offsets = (0..<6).map { planner.offset(kind: "diffusion", poll: $0) }
        #expect(offsets.first == 1)
        #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 < $1 })
        #expect(
            zip(zip(offsets, offsets.dropFirst()).map { $1 - $0 }, zip(offsets.dropFirst(), offsets.dropFirst(2)).map { $1 - $0 }).allSatisfy {
                $0 <= $1
            }
        )
    }

    @Test func aLearnedPlanFitsTheBudgetAndCutsLag() {
        var planner = PollPlanner(budget: 2)
        var generator = SystemRandomNumberGenerator()
        var durations: [Double] = []
        // Plans at 5, 9, 17, 33, 65 samples, then every 32: the plan at 193 learned from all of them.
        let count = 193
        for _ in 0..<count {
            let z =
                (-2 * log(Double.random(in: 1e-9..<1, using: &generator))).squareRoot() * cos(2 * .pi * Double.random(in: 0..<1, using: &generator))
            durations.append(40 * exp(0.15 * z))
        }
        for d in durations { planner.record(kind: "diffusion", duration: d) }
        let plan = planner.plan(for: "diffusion")
        #expect(plan != PollPlanner.probePlan)
        #expect(plan.first > 25 && plan.first < 50, "first poll near the typical duration: \(plan.first)")
        // Evaluate on the durations it learned from.
        var polls = 0.0
        var lag = 0.0
        for d in durations {
            var index = 0
            while planner.offset(kind: "diffusion", poll: index) < d { index += 1 }
            polls += Double(index + 1)
            lag += planner.offset(kind: "diffusion", poll: index) - d
        }
        #expect(polls / Double(count) <= 2.0)
        #expect(lag / Double(count) < 0.15 * 40)
        // Other kinds are still probed.
        #expect(planner.plan(for: "upscale") == PollPlanner.probePlan)
    }

    @Test func overSpentPollsArePaidBackThroughALowerBudget() {
        var planner = PollPlanner(budget: 2)
        for _ in 0..<10 { planner.record(kind: "diffusion", duration: 4, polls: 2) }
        #expect(planner.currentBudget(kind: "diffusion") == 2)
        // 40 polls over what 10 jobs were allowed, paid back over 200 jobs.
        for _ in 0..<10 { planner.record(kind: "diffusion", duration: 4, polls: 6) }
        #expect(abs(planner.currentBudget(kind: "diffusion") - 1.8) < 1e-9)
        // Durations read back at start-up carry no polls and no debt; the floor is 3/4 of the budget.
        for _ in 0..<100 { planner.record(kind: "diffusion", duration: 4, polls: 20) }
        #expect(planner.currentBudget(kind: "diffusion") == 1.5)
        planner.record(kind: "upscale", duration: 4)
        #expect(planner.currentBudget(kind: "upscale") == 2)
    }

    @Test func aLowerBudgetBuysFewerPollsForMoreLag() {
        var generator = SimulatorRandom(seed: 7)
        let durations = (0..<200).map { _ in generator.logNormal(median: 4, sigma: 0.3) }
        func measure(_ plan: PollPlanner.Plan) -> (polls: Double, lag: Double) {
            PollPlanner.evaluate(plan, durations: durations, floor: 0.05, ceiling: 30)
        }
        let full = measure(PollPlanner.bestPlan(for: durations, budget: 2, floor: 0.05, ceiling: 30))
        let lean = measure(PollPlanner.bestPlan(for: durations, budget: 1.6, floor: 0.05, ceiling: 30))
        #expect(full.polls <= 2 && lean.polls <= 1.6)
        #expect(lean.lag > full.lag)
    }

    @Test func earlyPlansAreRedoneAsSamplesDouble() {
        var planner = PollPlanner(budget: 2)
        var seen: [Int] = []
        var last = planner.plan(for: "diffusion")
        // Short jobs finish first: each new sample is longer than the last, so every replan differs.
        for n in 1...100 {
            planner.record(kind: "diffusion", duration: Double(n) / 10)
            if planner.plan(for: "diffusion") != last {
                seen.append(n)
                last = planner.plan(for: "diffusion")
            }
        }
        #expect(seen == [5, 9, 17, 33, 65, 97])
    }

    @Test func pollsRespectTheFloorAndTheCeiling() {
        var planner = PollPlanner(budget: 2, floor: 0.5, ceiling: 30)
        for _ in 0..<20 { planner.record(kind: "video-diffusion", duration: 600) }
        let gaps = (1..<10).map { planner.offset(kind: "video-diffusion", poll: $0) - planner.offset(kind: "video-diffusion", poll: $0 - 1) }
        #expect(gaps.allSatisfy { $0 >= 0.5 && $0 <= 30 })
        let next = planner.nextPoll(kind: "video-diffusion", submittedAt: t0, polls: 0, now: t0.addingTimeInterval(10_000))
        #expect(next == t0.addingTimeInterval(10_000.5), "never in the past")
    }
}
