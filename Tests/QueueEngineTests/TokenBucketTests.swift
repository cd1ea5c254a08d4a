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
