import Foundation
import QueueEngine
import QueueTestSupport
import Synchronization
import Testing

/// The shared limiter, on a clock the test drives.
@Suite struct RateLimiterTests {
    final class Order: Sendable {
        let granted = Mutex<[String]>([])
    }

    @Test func pollsGoBeforeSubmissionsWhenTokensAreScarce() async throws {
        let clock = ManualClock()
        let limiter = RateLimiter(rate: 1, burst: 1, clock: clock)
        let runner = Task { await limiter.run() }
        defer { runner.cancel() }
        try await limiter.acquire(.submit)  // the burst
        let order = Order()
        let submitter = Task {
            try await limiter.acquire(.submit)
            order.granted.withLock { $0.append("submit") }
        }
        #expect(await waitUntil { clock.sleepers >= 1 })
        let poller = Task {
            try await limiter.acquire(.poll)
            order.granted.withLock { $0.append("poll") }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(order.granted.withLock { $0 }.isEmpty, "no token before time moves")
        clock.advance(by: TokenBucket.window)
        #expect(await waitUntil { order.granted.withLock { $0.count } == 1 })
        #expect(order.granted.withLock { $0 } == ["poll"])
        #expect(await waitUntil { clock.sleepers >= 1 })
        clock.advance(by: TokenBucket.window)
        #expect(await waitUntil { order.granted.withLock { $0.count } == 2 })
        #expect(order.granted.withLock { $0 } == ["poll", "submit"])
        _ = try await (submitter.value, poller.value)
    }

    @Test func aWaiterIsReleasedByCancellation() async throws {
        let clock = ManualClock()
        let limiter = RateLimiter(rate: 1, burst: 1, clock: clock)
        let runner = Task { await limiter.run() }
        defer { runner.cancel() }
        try await limiter.acquire(.submit)
        let waiter = Task { try await limiter.acquire(.submit) }
        #expect(await waitUntil { clock.sleepers >= 1 })
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}

/// Waits for other tasks to reach a point (they run on real threads); time itself is manual.
func waitUntil(_ condition: @Sendable () -> Bool) async -> Bool {
    for _ in 0..<400 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
