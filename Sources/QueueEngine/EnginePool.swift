import Foundation
import LegnextAPI
import Logging
import QueueStore
import QueueSupport
import ServiceLifecycle
import Synchronization

/// Several Legnext accounts draining one queue: one ``QueueEngine`` per account, each with its
/// own key, plan, rate limiter, pause and jobs in flight, competing for the queued jobs (a job
/// goes to whichever account claims it first, so to one with room and tokens; among those, to
/// the highest ``EngineConfiguration/priority``). Follow-ups go to their parent's account and
/// pinned jobs to theirs (``AccountRoute``); a paused account takes nothing, so its share flows
/// to the others.
///
/// The pool does what concerns the whole queue: start-up recovery, the `daemon` and `accounts`
/// rows, stopping when the queue is drained (`exitWhenIdle`), and graceful shutdown.
public final class EnginePool: Service, Sendable {
    /// One account: its engine's configuration (its ``EngineConfiguration/route`` names it) and
    /// the API with its key.
    public struct Account: Sendable {
        public var configuration: EngineConfiguration
        public var legnext: any LegnextService

        public init(configuration: EngineConfiguration, legnext: any LegnextService) {
            self.configuration = configuration
            self.legnext = legnext
        }
    }

    public let engines: [QueueEngine]
    let store: any JobStore
    let clock: any QueueClock
    let logger: Logger
    let lanes = EngineLanes()
    let diskAlarm: DiskAlarm
    let exitWhenIdle: Bool
    let baseURL: String
    private let state = Mutex(PoolState())
    private let stopSignal = Wakeup()
    /// Why an account could not start (the pool then stops, and `run` throws the first).
    private let failures = Mutex<[any Error]>([])
    private let statusObservers = ObserverList<EngineStatus>()
    private let lifecycleObservers = ObserverList<EngineLifecycleEvent>()

    private struct PoolState: Sendable {
        var stopping = false
        var drained = false
        var ready = 0
        var failedAtStart = 0
        var lastAlive: [String: Date] = [:]
    }

    /// - Parameters:
    ///   - accounts: at least one, each named differently (jobs sent before accounts were
    ///     recorded are `default`'s: ``AccountRoute/owner(_:)``).
    ///   - baseURL: for the `daemon` row.
    public init(
        store: any JobStore,
        accounts: [Account],
        baseURL: String,
        clock: any QueueClock = WallClock(),
        diskAlarm: DiskAlarm = DiskAlarm(),
        taskExecutor: (any TaskExecutor)? = nil,
        logger: Logger
    ) {
        precondition(!accounts.isEmpty, "a pool needs an account")
        let names = accounts.map(\.configuration.route.name)
        precondition(Set(names).count == names.count, "account names are unique")
        self.store = store
        self.clock = clock
        self.logger = logger
        self.diskAlarm = diskAlarm
        self.baseURL = baseURL
        self.exitWhenIdle = accounts[0].configuration.exitWhenIdle
        let lanes = self.lanes
        engines = accounts.map { account in
            var configuration = account.configuration
            configuration.route = AccountRoute(name: configuration.route.name, all: names)
            configuration.exitWhenIdle = false
            var log = logger
            log[metadataKey: "lnq.account"] = "\(configuration.route.name)"
            return QueueEngine(
                store: store,
                legnext: account.legnext,
                configuration: configuration,
                clock: clock,
                diskAlarm: diskAlarm,
                taskExecutor: taskExecutor,
                lanes: lanes,
                logger: log
            )
        }
        lanes.engines.withLock { $0 = engines }
        for engine in engines {
            let name = engine.route.name
            engine.observeStatus { [weak self] _ in self?.publishStatus() }
            engine.observeLifecycle { [weak self] event in self?.engineEvent(event, account: name) }
        }
    }

    /// Calls `observer` with the pool's summed ``EngineStatus`` whenever an account's changes.
    public func observeStatus(_ observer: @escaping @Sendable (EngineStatus) -> Void) {
        statusObservers.add(observer)
    }

    /// Calls `observer` when every account is ready, at each heartbeat round in which every
    /// account's engine answered, and when the pool begins to stop.
    public func observeLifecycle(_ observer: @escaping @Sendable (EngineLifecycleEvent) -> Void) {
        lifecycleObservers.add(observer)
    }

    private func announce(_ event: EngineLifecycleEvent) {
        lifecycleObservers.notify(event)
    }

    private func engineEvent(_ event: EngineLifecycleEvent, account: String) {
        let now = clock.now()
        switch event {
        case .ready:
            let all = state.withLock { state -> Bool in
                state.ready += 1
                state.lastAlive[account] = now
                return state.ready == engines.count
            }
            if all { announce(.ready) }
        case .alive:
            state.withLock { $0.lastAlive[account] = now }
        case .stopping:
            break
        }
    }

    /// Whether the pool stopped because the queue ran dry (`exitWhenIdle`).
    public var drained: Bool { state.withLock { $0.drained } }

    /// Begins an orderly stop of every account (also what graceful shutdown does).
    public func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        announce(.stopping)
        stopSignal.signal()
        for engine in engines { engine.stop() }
    }

    /// Reads every account's key again (SIGHUP).
    public func reloadKeys() {
        for engine in engines { engine.reloadKey() }
    }

    /// A callback for a job: handed to the account that sent it.
    public func callbackArrived(_ target: CallbackTarget, remoteJobId: String?, status: String?) -> CallbackDisposition {
        let owner = engines[0].route.owner(target.remoteAccount)
        guard let engine = engines.first(where: { $0.route.name == owner }) else {
            return .noted("job \(target.id) was sent with account \(owner), which this daemon does not run")
        }
        return engine.callbackArrived(target, remoteJobId: remoteJobId, status: status)
    }

    public func run() async throws {
        // The engines hold the lanes and the lanes the engines: let go once the pool has run.
        defer { lanes.engines.withLock { $0 = [] } }
        let now = clock.now()
        let first = engines[0].configuration
        let failed = try await QueueEngine.prepareQueue(store, route: engines[0].route, now: now, autoSettle: first.autoSettle, logger: logger)
        // Every account's engine reads its own share next; this first read fails the rows none
        // can follow (said here, once) and finds those no account of the pool follows.
        let (inFlight, unfollowable) = try await store.inFlightJobs(now: now)
        for failure in unfollowable { logger.warning("job \(failure.id) failed: \(failure.reason)") }
        QueueEngine.noteOrphans(
            inFlight: inFlight,
            uncertain: try await store.uncertainJobs().map(\.job),
            route: engines[0].route,
            logger: logger
        )
        state.withLock { $0.failedAtStart = failed + unfollowable.count }
        try await store.registerAccounts(engines.map(\.accountInfo), now: now)
        try await store.registerDaemon(
            DaemonInfo(
                pid: ProcessInfo.processInfo.processIdentifier,
                hostname: ProcessInfo.processInfo.hostName,
                version: EngineVersion.current,
                baseURL: baseURL,
                concurrency: engines.reduce(0) { $0 + $1.configuration.concurrency },
                // 0 is unlimited: one unlimited account makes the sum so.
                rate: engines.contains { $0.configuration.rate == 0 } ? 0 : engines.reduce(0) { $0 + $1.configuration.rate },
                startedAt: now,
                heartbeatAt: now
            ),
            notifyChannels: first.notifyChannels
        )
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { helpers in
                helpers.addTask { await self.heartbeatLoop(interval: first.heartbeatInterval) }
                if self.exitWhenIdle { helpers.addTask { await self.idleLoop() } }
                await withDiscardingTaskGroup { accounts in
                    for engine in self.engines {
                        accounts.addTask {
                            do {
                                try await engine.run()
                            } catch {
                                self.logger.error("account \(engine.route.name) could not start: \(error)")
                                self.failures.withLock { $0.append(error) }
                                self.stop()
                            }
                        }
                    }
                }
                helpers.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        // Shielded from cancellation, as the last write of a single engine is.
        await Task { [store, clock, logger] in
            do {
                try await store.markDaemonStopped(now: clock.now())
            } catch {
                logger.warning("cannot record in the daemon row that it stopped: \(error)")
            }
        }.value
        if let error = self.failures.withLock({ $0.first }) { throw error }
    }

    /// Refreshes the `daemon` row with the accounts' sums; says the pool is alive when every
    /// account's engine answered within the last rounds.
    private func heartbeatLoop(interval: TimeInterval) async {
        while !Task.isCancelled {
            try? await clock.sleep(until: clock.now().addingTimeInterval(interval))
            if Task.isCancelled { break }
            let now = clock.now()
            let status = summary()
            do {
                try await store.heartbeat(
                    now: now,
                    inFlight: status.inFlight,
                    currentRate: nil,
                    pausedReason: status.pausedReason,
                    pausedSince: status.pausedSince
                )
            } catch {
                if !error.isTemporary { logger.warning("cannot write the heartbeat: \(error)") }
            }
            let alive = state.withLock { state in
                engines.allSatisfy { engine in
                    state.lastAlive[engine.route.name].map { now.timeIntervalSince($0) <= 3 * interval } ?? false
                }
            }
            if alive { announce(.alive) }
        }
    }

    /// With `exitWhenIdle`: stops every account once none has anything in flight and the
    /// queue holds nothing due within a minute.
    private func idleLoop() async {
        while !state.withLock({ $0.stopping }) {
            await clock.wait(for: stopSignal, until: clock.now().addingTimeInterval(0.5))
            guard engines.allSatisfy(\.isQuiet), let deferred = await QueueEngine.queueIdle(store, now: clock.now(), logger: logger),
                engines.allSatisfy(\.isQuiet)
            else { continue }
            QueueEngine.logDrained(deferred, logger: logger)
            state.withLock { $0.drained = true }
            stop()
        }
    }

    /// The accounts' figures summed; paused only when every account is.
    func summary() -> EngineStatus {
        let statuses = engines.map(\.status)
        var total = EngineStatus(
            inFlight: statuses.reduce(0) { $0 + $1.inFlight },
            completed: statuses.reduce(0) { $0 + $1.completed },
            failed: statuses.reduce(0) { $0 + $1.failed } + state.withLock { $0.failedAtStart },
            pausedReason: nil
        )
        let paused = statuses.filter { $0.pausedReason != nil }
        if !paused.isEmpty, paused.count == statuses.count {
            total.pausedSince = paused.compactMap(\.pausedSince).max()
            total.pausedReason =
                statuses.count == 1
                ? paused[0].pausedReason
                : "every account is paused: " + paused.map { "\($0.account ?? "?"): \($0.pausedReason ?? "")" }.joined(separator: "; ")
        }
        total.diskProblem = diskAlarm.current
        return total
    }

    private func publishStatus() {
        guard !statusObservers.isEmpty else { return }
        statusObservers.notify(summary())
    }
}
