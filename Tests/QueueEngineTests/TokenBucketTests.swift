import Foundation
import QueueEngine
import Testing

@Suite struct TokenBucketTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func burstThenRate() {
        var bucket = TokenBucket(rate: 4, burst: 3, now: t0)
        #expect(bucket.take(now: t0) == nil)
        #expect(bucket.take(now: t0) == nil)
        #expect(bucket.take(now: t0) == nil)
        #expect(bucket.take(now: t0) == t0.addingTimeInterval(0.25))
        #expect(bucket.take(now: t0.addingTimeInterval(0.25)) == nil)
        #expect(bucket.take(now: t0.addingTimeInterval(0.25)) != nil)
    }

    @Test func noSlidingSecondEverHoldsMoreThanTheRate() {
        var bucket = TokenBucket(rate: 10, burst: 10, now: t0)
        var now = t0
        var sent: [Date] = []
        while now < t0.addingTimeInterval(20) {
            if let next = bucket.take(now: now) { now = next } else { sent.append(now) }
        }
        for (index, start) in sent.enumerated() {
            #expect(sent[index...].prefix { $0.timeIntervalSince(start) < 1 }.count <= 10)
        }
        #expect(sent.count >= 180, "the window costs little throughput: \(sent.count) in 20 s")
    }

    @Test func overAnyLongStretchTheRateHolds() {
        var bucket = TokenBucket(rate: 5, burst: 5, now: t0)
        var now = t0
        var granted = 0
        while now < t0.addingTimeInterval(100) {
            if let next = bucket.take(now: now) { now = next } else { granted += 1 }
        }
        #expect(granted <= 5 + 500)
        #expect(granted >= 470)
    }

    @Test func a429HalvesTheRateHonoursRetryAfterAndRecovers() {
        var bucket = TokenBucket(rate: 10, burst: 1, now: t0)
        bucket.rateLimited(now: t0, retryAfter: 3)
        #expect(bucket.rate == 5)
        #expect(bucket.take(now: t0.addingTimeInterval(1)) == t0.addingTimeInterval(3))
        #expect(bucket.take(now: t0.addingTimeInterval(3.2)) == nil)
        bucket.rateLimited(now: t0.addingTimeInterval(4), retryAfter: nil)
        #expect(bucket.rate == 2.5)
        for second in 5...30 { bucket.succeeded(now: t0.addingTimeInterval(Double(second))) }
        #expect(bucket.rate == 10, "recovers to the configured rate")
        for _ in 0..<30 { bucket.rateLimited(now: t0.addingTimeInterval(40), retryAfter: 0) }
        #expect(bucket.rate == 0.5, "never below 5 % of the configured rate")
    }

    @Test func aSendCountsInTheWindowFromItsAnswer() throws {
        var bucket = TokenBucket(rate: 1, burst: 1, now: t0)
        #expect(bucket.take(now: t0) == nil)
        bucket.answered(sentAt: t0, now: t0.addingTimeInterval(0.3))
        // The server may have seen it as late as 0.3 s: the next send waits a window from then.
        let wait = bucket.take(now: t0.addingTimeInterval(1.1))
        let next = try #require(wait)
        #expect(abs(next.timeIntervalSince(t0) - (0.3 + TokenBucket.window)) < 1e-6)
        #expect(bucket.take(now: next) == nil)
    }

    @Test func zeroMeansUnlimited() {
        var bucket = TokenBucket(rate: 0, burst: 1, now: t0)
        for _ in 0..<10_000 { #expect(bucket.take(now: t0) == nil) }
    }

    @Test func backoffGrowsWithJitterAndACap() {
        let backoff = Backoff(base: 2, cap: 60)
        #expect(backoff.delay(attempt: 1, random: 0) == 1)
        #expect(backoff.delay(attempt: 1, random: 1) == 2)
        #expect(backoff.delay(attempt: 3, random: 1) == 8)
        #expect(backoff.delay(attempt: 20, random: 1) == 60)
        #expect(backoff.delay(attempt: 20, random: 0) == 30)
    }
}

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
        // 197 = a plan at 5 samples, then a new one every 32: the last plan learned from all of them.
        let count = planner.minimumSamples + 32 * 6
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

    @Test func pollsRespectTheFloorAndTheCeiling() {
        var planner = PollPlanner(budget: 2, floor: 0.5, ceiling: 30)
        for _ in 0..<20 { planner.record(kind: "video-diffusion", duration: 600) }
        let gaps = (1..<10).map { planner.offset(kind: "video-diffusion", poll: $0) - planner.offset(kind: "video-diffusion", poll: $0 - 1) }
        #expect(gaps.allSatisfy { $0 >= 0.5 && $0 <= 30 })
        let next = planner.nextPoll(kind: "video-diffusion", submittedAt: t0, polls: 0, now: t0.addingTimeInterval(10_000))
        #expect(next == t0.addingTimeInterval(10_000.5), "never in the past")
    }
}
