import Foundation
import QueueEngine
import QueueTestSupport
import Synchronization
import Testing

/// The shared limiter, on a clock the test drives; the limiter's tasks and the test share one
/// thread, so "every waiter has run as far as it can" is a fact the test can wait for.
@Suite struct RateLimiterTests {
    final class Order: Sendable {
        let granted = Mutex<[String]>([])
    }

    @Test func pollsGoBeforeSubmissionsWhenTokensAreScarce() async throws {
        let executor = SerialTaskExecutor(name: "rate limiter")
        defer { executor.shutdown() }
        try await withTaskExecutorPreference(executor) {
            let clock = ManualClock()
            let limiter = RateLimiter(rate: 1, burst: 1, clock: clock)
            let runner = Task(executorPreference: executor) { await limiter.run() }
            defer { runner.cancel() }
            try await limiter.acquire(.submit)  // the burst
            let order = Order()
            let submitter = Task(executorPreference: executor) {
                try await limiter.acquire(.submit)
                order.granted.withLock { $0.append("submit") }
            }
            await executor.runUntilIdle()
            #expect(clock.sleepers >= 1)
            let poller = Task(executorPreference: executor) {
                try await limiter.acquire(.poll)
                order.granted.withLock { $0.append("poll") }
            }
            await executor.runUntilIdle()
            #expect(order.granted.withLock { $0 }.isEmpty, "no token before time moves")
            clock.advance(by: TokenBucket.window)
            await executor.runUntilIdle()
            #expect(order.granted.withLock { $0 } == ["poll"])
            #expect(clock.sleepers >= 1)
            clock.advance(by: TokenBucket.window)
            await executor.runUntilIdle()
            #expect(order.granted.withLock { $0 } == ["poll", "submit"])
            _ = try await (submitter.value, poller.value)
        }
    }

    @Test func aWaiterIsReleasedByCancellation() async throws {
        let executor = SerialTaskExecutor(name: "rate limiter")
        defer { executor.shutdown() }
        try await withTaskExecutorPreference(executor) {
            let clock = ManualClock()
            let limiter = RateLimiter(rate: 1, burst: 1, clock: clock)
            let runner = Task(executorPreference: executor) { await limiter.run() }
            defer { runner.cancel() }
            try await limiter.acquire(.submit)
            let waiter = Task(executorPreference: executor) { try await limiter.acquire(.submit) }
            await executor.runUntilIdle()
            #expect(clock.sleepers >= 1)
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
        }
    }
}
