import Foundation
import Logging
import QueueEngine
import QueueStore
import QueueSupport
import ServiceLifecycle
import Synchronization

/// The engine on logic time: an in-memory queue, Legnext as a script, and a manual clock that
/// jumps to the next sleeper's deadline whenever the engine has gone idle (no store call, no
/// Legnext request, no new sleep through rounds of yields). A drain of jobs that take minutes
/// runs in milliseconds, and no wall-clock time decides any result.
public struct LogicTimeHarness: Sendable {
    public let clock: ManualClock
    public let activity: Counter
    public let store: InMemoryJobStore
    public let legnext: ScriptedLegnext
    public let start: Date

    public init(
        planConcurrency: Int = 6,
        hasActiveTasks: Bool = false,
        rateLimit: Int? = nil,
        duration: @escaping @Sendable (String) -> TimeInterval,
        fault: @escaping @Sendable (_ prompt: String, _ post: Int) -> ScriptedLegnext.SubmitFault? = { _, _ in nil }
    ) {
        clock = ManualClock()
        activity = Counter()
        start = clock.now()
        store = InMemoryJobStore(activity: activity)
        legnext = ScriptedLegnext(
            clock: clock,
            concurrency: planConcurrency,
            activity: activity,
            hasActiveTasks: hasActiveTasks,
            rateLimit: rateLimit,
            duration: duration,
            fault: fault
        )
    }

    /// Runs the engine until `condition` holds or `limit` of logic time has passed, then stops
    /// it gracefully (advancing time through its grace period too). Returns whether the
    /// condition held, and the logic time it took. The engine and this driver share one
    /// thread, so the driver only ever looks while every engine task is suspended.
    public func run(
        _ configuration: EngineConfiguration,
        limit: TimeInterval = 24 * 3600,
        until condition: @escaping @Sendable () async -> Bool
    ) async throws -> (met: Bool, elapsed: TimeInterval) {
        try await onOneThread { executor in try await drive(configuration, on: executor, limit: limit, until: condition) }
    }

    private func onOneThread<T: Sendable>(_ body: (SerialTaskExecutor) async throws -> T) async throws -> T {
        let executor = SerialTaskExecutor(name: "logic time")
        defer { executor.shutdown() }
        return try await withTaskExecutorPreference(executor) { try await body(executor) }
    }

    /// Runs a pool of accounts the same way: `accounts` pairs each account's configuration (its
    /// route names it) with its Legnext, which should share this harness's clock and activity.
    public func run(
        pool accounts: [EnginePool.Account],
        limit: TimeInterval = 24 * 3600,
        until condition: @escaping @Sendable () async -> Bool
    ) async throws -> (met: Bool, elapsed: TimeInterval) {
        try await onOneThread { executor in
            try await drive(on: executor, limit: limit, until: condition) { logger in
                let pool = EnginePool(store: store, accounts: accounts, baseURL: "script", clock: clock, taskExecutor: executor, logger: logger)
                return (pool, pool.observeLifecycle)
            }
        }
    }

    private func drive(
        _ configuration: EngineConfiguration,
        on executor: SerialTaskExecutor,
        limit: TimeInterval,
        until condition: @escaping @Sendable () async -> Bool
    ) async throws -> (met: Bool, elapsed: TimeInterval) {
        try await drive(on: executor, limit: limit, until: condition) { logger in
            let engine = QueueEngine(
                store: store,
                legnext: legnext,
                configuration: configuration,
                clock: clock,
                taskExecutor: executor,
                logger: logger
            )
            return (engine, engine.observeLifecycle)
        }
    }

    private func drive(
        on executor: SerialTaskExecutor,
        limit: TimeInterval,
        until condition: @escaping @Sendable () async -> Bool,
        make: (Logger) -> (any Service, (@escaping @Sendable (EngineLifecycleEvent) -> Void) -> Void)
    ) async throws -> (met: Bool, elapsed: TimeInterval) {
        var logger = Logger(label: "engine")
        logger.logLevel = .error
        let (engine, observeLifecycle) = make(logger)
        let group = ServiceGroup(configuration: .init(services: [engine], logger: logger))
        let finished = Mutex(false)
        // Idleness means something only once the engine runs: before, nothing happens either.
        let started = Wakeup()
        observeLifecycle { if $0 == .ready { started.signal() } }
        let running = Task(executorPreference: executor) {
            defer {
                finished.withLock { $0 = true }
                started.signal()
            }
            try await group.run()
        }
        await started.wait()
        var met = false
        while true {
            await idle(executor)
            if await condition() {
                met = true
                break
            }
            guard let next = clock.nextDeadline, next.timeIntervalSince(start) <= limit else { break }
            clock.advance(to: next)
        }
        let elapsed = clock.now().timeIntervalSince(start)
        await group.triggerGracefulShutdown()
        while !finished.withLock({ $0 }) {
            await idle(executor)
            clock.advance(to: clock.nextDeadline ?? clock.now().addingTimeInterval(1))
        }
        try await running.value
        return (met, elapsed)
    }

    /// Returns once, through three rounds of yields in a row, no job was waiting to run on the
    /// engine's thread and nothing happened (no store call, Legnext request or new sleep).
    private func idle(_ executor: SerialTaskExecutor) async {
        var last: UInt64 = .max
        var quiet = 0
        while quiet < 3 {
            for _ in 0..<20 { await Task.yield() }
            let seen = UInt64(activity.count) &+ clock.sleepsBegun
            if seen == last && executor.pending == 0 {
                quiet += 1
            } else {
                quiet = 0
                last = seen
            }
        }
    }
}
