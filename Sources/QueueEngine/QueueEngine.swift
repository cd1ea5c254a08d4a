import Foundation
import LegnextAPI
import Logging
import QueueStore
import QueueSupport
import ServiceLifecycle
import Synchronization

/// The daemon: takes queued jobs, submits them to Legnext within the concurrency and rate
/// limits, follows every accepted job to its end, and records each step before acting on it.
///
/// Run it as a `Service`. Graceful shutdown stops claiming at once, gives requests under way
/// ``EngineConfiguration/gracePeriod`` to finish, records every outcome, and returns.
public final class QueueEngine: Service, Sendable {
    let store: any JobStore
    let legnext: any LegnextService
    public let configuration: EngineConfiguration
    let clock: any QueueClock
    let logger: Logger
    let limiter: RateLimiter
    /// Where the engine's own unstructured tasks run (shielded writes, the pause row): nil, the
    /// global pool, except in tests that run the whole engine on one thread of logic time.
    let taskExecutor: (any TaskExecutor)?
    /// Raised while the queue cannot be written for want of space.
    public let diskAlarm: DiskAlarm
    let state: Mutex<EngineState>
    /// Wakes the dispatcher: a slot freed, the queue changed, a pause ended, shutdown began.
    let workSignal = Wakeup()
    /// Wakes the poll scheduler: a poll was added, shutdown began.
    let pollSignal = Wakeup()
    /// Wakes the watch of Legnext's running jobs: a job is in flight, shutdown began.
    let watchSignal = Wakeup()
    /// Wakes the balance prober: submissions were paused, shutdown began.
    let pauseSignal = Wakeup()
    /// Wakes the settler: a job became uncertain, shutdown began.
    let settleSignal = Wakeup()
    /// Signalled once when shutdown begins.
    let stopSignal = Wakeup()
    /// Cuts the balance prober's wait short: shutdown, or a key read again (SIGHUP).
    let probeSignal = Wakeup()
    /// Requests under way, so shutdown ends as soon as the last one does.
    let active = Mutex(0)
    let idleSignal = Wakeup()
    private let statusObservers = ObserverList<EngineStatus>()
    /// Where work found outside the loops (a callback) is handed over, while the engine runs.
    let extraWork: Mutex<AsyncStream<Work>.Continuation?> = Mutex(nil)
    private let lifecycleObservers = ObserverList<EngineLifecycleEvent>()
    /// The other accounts' engines, when this one is part of an ``EnginePool``: the pool then
    /// does what concerns the whole queue (start-up recovery, the `daemon` row, stopping when
    /// the queue is drained), and this engine what concerns its account.
    let lanes: EngineLanes?

    /// - Parameters:
    ///   - store: the queue.
    ///   - legnext: the API (the real client, pointed at Legnext or at the simulator).
    ///   - taskExecutor: where the tasks the engine starts outside its task groups run; the
    ///     structured ones run where ``run()`` is called.
    public convenience init(
        store: any JobStore,
        legnext: any LegnextService,
        configuration: EngineConfiguration,
        clock: any QueueClock = WallClock(),
        diskAlarm: DiskAlarm = DiskAlarm(),
        taskExecutor: (any TaskExecutor)? = nil,
        logger: Logger
    ) {
        self.init(
            store: store,
            legnext: legnext,
            configuration: configuration,
            clock: clock,
            diskAlarm: diskAlarm,
            taskExecutor: taskExecutor,
            lanes: nil,
            logger: logger
        )
    }

    init(
        store: any JobStore,
        legnext: any LegnextService,
        configuration: EngineConfiguration,
        clock: any QueueClock,
        diskAlarm: DiskAlarm,
        taskExecutor: (any TaskExecutor)?,
        lanes: EngineLanes?,
        logger: Logger
    ) {
        self.lanes = lanes
        self.taskExecutor = taskExecutor
        self.diskAlarm = diskAlarm
        self.store = store
        self.legnext = legnext
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.limiter = RateLimiter(rate: configuration.rate, burst: configuration.burst, clock: clock)
        var state = EngineState(scheduler: PollScheduler(configuration), limits: .init(configuration))
        state.lead = configuration.plan.map(PlanLead.init(plan:))
        self.state = Mutex(state)
    }

    /// Calls `observer` with a fresh ``EngineStatus`` whenever the counts or the pause change
    /// (for the systemd status line and the watch view).
    public func observeStatus(_ observer: @escaping @Sendable (EngineStatus) -> Void) {
        statusObservers.add(observer)
    }

    /// Calls `observer` when the engine is ready (recovery done), at every heartbeat round (the
    /// liveness a service manager's watchdog wants), and when it begins to stop.
    public func observeLifecycle(_ observer: @escaping @Sendable (EngineLifecycleEvent) -> Void) {
        lifecycleObservers.add(observer)
    }

    private func announce(_ event: EngineLifecycleEvent) {
        lifecycleObservers.notify(event)
    }

    /// Begins an orderly stop (also what graceful shutdown does).
    public func stop() {
        let now = clock.now()
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            if !state.stopping { state.stopStartedAt = now }
            return !state.stopping
        }
        guard first else { return }
        announce(.stopping)
        logger.info("\(accountPrefix)stopping: no new submissions; waiting up to \(Int(configuration.gracePeriod))s for requests under way")
        stopSignal.signal()
        probeSignal.signal()
        workSignal.signal()
        pollSignal.signal()
        watchSignal.signal()
        pauseSignal.signal()
        settleSignal.signal()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// The account this engine sends with, and the jobs it may take.
    public var route: AccountRoute { configuration.route }

    /// Starts a log line about the account as a whole, when there are several.
    var accountPrefix: String { lanes == nil ? "" : "account \(route.name): " }

    /// Whether the engine stopped because the queue ran dry (`exitWhenIdle`).
    public var drained: Bool { state.withLock { $0.drained } }

    public func run() async throws {
        try await prepare()
        let changes = store.externalChanges()
        if changes == nil {
            logger.notice("cannot watch \(store.location) for changes; new rows are noticed within \(Int(configuration.idleCheckInterval))s")
        }
        announce(.ready)
        let (work, workQueue) = AsyncStream.makeStream(of: Work.self)
        extraWork.withLock { $0 = workQueue }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { helpers in
                helpers.addTask { await self.limiter.run() }
                helpers.addTask { await self.heartbeatLoop() }
                helpers.addTask { await self.probeLoop() }
                helpers.addTask { await self.balanceLoop() }
                if let changes {
                    helpers.addTask { for await _ in changes { self.workSignal.signal() } }
                }
                await withDiscardingTaskGroup { requests in
                    requests.addTask {
                        await withDiscardingTaskGroup { loops in
                            loops.addTask { await self.dispatchLoop(workQueue) }
                            loops.addTask { await self.pollLoop(workQueue) }
                            loops.addTask { await self.watchLoop() }
                            loops.addTask { await self.settleLoop() }
                        }
                        self.extraWork.withLock { $0 = nil }
                        workQueue.finish()
                    }
                    requests.addTask { await self.perform(work) }
                }
                helpers.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        let (completed, failed) = state.withLock { ($0.completed, $0.failed) }
        guard lanes == nil else {
            logger.info("\(accountPrefix)stopped: \(completed) completed and \(failed) failed in this run")
            return
        }
        await shielded {
            await self.logged("record in the daemon row that it stopped") { try await self.store.markDaemonStopped(now: self.clock.now()) }
        }
        logger.info("stopped: \(completed) completed and \(failed) failed in this run")
    }

    /// Start-up of the whole queue, before any account takes a job: counts, crash recovery,
    /// rows no claim would take. Returns the jobs it failed. (An ``EnginePool`` does it once
    /// for all its accounts.)
    static func prepareQueue(_ store: any JobStore, route: AccountRoute, now: Date, autoSettle: Bool, logger: Logger) async throws -> Int {
        try await store.recount()
        let interrupted = try await store.recoverInterruptedSubmissions(now: now)
        if !interrupted.isEmpty {
            let next =
                autoSettle
                ? "they are looked for among Legnext's running jobs, then adopted or resent"
                : "they will not be resent without `legnext-queue retry`"
            logger.warning(
                "\(interrupted.count) job(s) were being submitted when the daemon last stopped; they are now uncertain, and \(next): \(interrupted.prefix(20).map(String.init).joined(separator: " "))"
            )
        }
        let unclaimable = try await store.failUnclaimableRows(now: now) + store.failUnroutablePins(route: route, now: now)
        for failure in unclaimable { logger.warning("job \(failure.id) failed: \(failure.reason)") }
        return unclaimable.count
    }

    /// Says which jobs of `inFlight` and `uncertain` (every account's, as start-up read them) no
    /// account of the daemon follows: sent with an account a later start left out, they wait
    /// until a daemon runs it again.
    static func noteOrphans(inFlight: [InFlightJob], uncertain: [Job], route: AccountRoute, logger: Logger) {
        let names = Set(route.all)
        var orphans: [String: Int] = [:]
        for account in inFlight.map(\.account) + uncertain.map(\.remoteAccount) where !names.contains(route.owner(account)) {
            orphans[route.owner(account), default: 0] += 1
        }
        for (account, count) in orphans.sorted(by: { $0.key < $1.key }) {
            logger.warning(
                "\(count) job(s) in flight or uncertain were sent with account \(account), which this daemon does not run: they are followed and settled once it runs with --account \(account) again"
            )
        }
    }

    /// Start-up: crash recovery (alone), the in-flight jobs of this account to follow, learned
    /// durations, the daemon row (alone).
    private func prepare() async throws {
        let now = clock.now()
        if lanes == nil {
            let failed = try await Self.prepareQueue(store, route: route, now: now, autoSettle: configuration.autoSettle, logger: logger)
            state.withLock { $0.failed += failed }
        }
        // A POST of a job claimed before the restart left at or after its claim; the process that
        // sent it has ended, and Legnext is done with it a margin later.
        if let slowest = try await store.slowestRecentSubmission(limit: 200) { noteAnswer(after: slowest) }
        let sealed = now.addingTimeInterval(sealMargin())
        let uncertain = try await store.uncertainJobs()
        for (job, claimedAt) in uncertain where route.owns(job.remoteAccount) {
            beginSettling(job, sentAt: claimedAt, answeredAt: sealed)
        }
        let (allInFlight, unfollowable) = try await store.inFlightJobs(now: now)
        let inFlight = allInFlight.filter { route.owns($0.account) }
        for failure in unfollowable { logger.warning("job \(failure.id) failed: \(failure.reason)") }
        state.withLock { $0.failed += unfollowable.count }
        // In a pool, the pool says it once for every account.
        if lanes == nil { Self.noteOrphans(inFlight: allInFlight, uncertain: uncertain.map(\.job), route: route, logger: logger) }
        var kinds = Set(inFlight.map(\.kind))
        kinds.insert("diffusion")
        var scheduler = PollScheduler(configuration)
        for kind in kinds {
            for duration in try await store.recentDurations(kind: kind, limit: scheduler.planner.window).reversed() {
                scheduler.record(kind: kind, duration: duration)
            }
        }
        state.withLock { state in
            state.scheduler = scheduler
            for job in inFlight {
                state.follow(
                    job.id,
                    kind: job.kind,
                    remoteJobId: job.remoteJobId,
                    status: job.remoteStatus,
                    submittedAt: job.submittedAt,
                    progressAt: job.progressAt,
                    next: max(job.nextPollAt ?? now, now)
                )
            }
        }
        if !inFlight.isEmpty { logger.info("\(accountPrefix)following \(inFlight.count) job(s) submitted before the restart") }
        publishStatus()
        guard lanes == nil else { return }
        try await store.registerAccounts([accountInfo], now: now)
        try await store.registerDaemon(
            DaemonInfo(
                pid: ProcessInfo.processInfo.processIdentifier,
                hostname: ProcessInfo.processInfo.hostName,
                version: EngineVersion.current,
                baseURL: (legnext as? LegnextClient)?.configuration.baseURL ?? "custom",
                concurrency: configuration.concurrency,
                rate: configuration.rate,
                startedAt: now,
                heartbeatAt: now,
                currentRate: limiter.currentRate
            ),
            notifyChannels: configuration.notifyChannels
        )
    }

    /// This account as the `accounts` table records it.
    var accountInfo: AccountInfo {
        AccountInfo(
            name: route.name,
            concurrency: configuration.concurrency,
            plan: configuration.plan,
            rate: configuration.rate,
            priority: configuration.priority
        )
    }

    // MARK: Heartbeat and status

    /// Refreshes the `daemon` row and tells observers the engine is alive. A round that hangs
    /// (a wedged database writer, a stuck task group) stops the liveness signal with it; a
    /// round that fails with an error still counts, because the engine answered.
    private func heartbeatLoop() async {
        while !Task.isCancelled {
            let (busy, paused) = state.withLock { ($0.busy, $0.paused) }
            let rate = limiter.isUnlimited ? nil : limiter.currentRate
            EngineMetrics.gauges(account: route.name, inFlight: busy, concurrency: configuration.concurrency, rate: rate, paused: paused != nil)
            do {
                let now = clock.now()
                try await store.accountHeartbeat(
                    route.name,
                    now: now,
                    inFlight: busy,
                    currentRate: rate,
                    pausedReason: paused?.reason,
                    pausedSince: paused?.since
                )
                if lanes == nil {
                    try await store.heartbeat(now: now, inFlight: busy, currentRate: rate, pausedReason: paused?.reason, pausedSince: paused?.since)
                }
                writeLanded()
            } catch {
                if case .diskFull = error {
                    diskFull(error)
                } else if !error.isTemporary {
                    logger.warning("cannot write the heartbeat: \(error)")
                }
            }
            announce(.alive)
            publishStatus()
            try? await clock.sleep(until: clock.now().addingTimeInterval(configuration.heartbeatInterval))
        }
    }

    func publishStatus() {
        guard !statusObservers.isEmpty else { return }
        statusObservers.notify(status)
    }

    /// The engine's figures now.
    public var status: EngineStatus {
        var snapshot = state.withLock { state in
            EngineStatus(inFlight: state.busy, completed: state.completed, failed: state.failed, pausedReason: state.paused?.reason)
        }
        snapshot.pausedSince = state.withLock { $0.paused?.since }
        snapshot.account = route.name
        snapshot.diskProblem = diskAlarm.current
        return snapshot
    }

    /// Runs a store call whose failure costs only a round (it is asked again): says what could
    /// not be done, and returns nil.
    @discardableResult
    func logged<T: Sendable>(_ what: String, _ body: () async throws -> T) async -> T? {
        do {
            return try await body()
        } catch {
            logger.warning("cannot \(what): \(error)")
            return nil
        }
    }

    /// Runs `body` to completion even if the calling task is cancelled: the last state write of
    /// a job must not be lost to shutdown.
    func shielded(_ body: @escaping @Sendable () async -> Void) async {
        await Task { await body() }.value
    }
}

/// Milestones of the engine's life, for a service manager.
public enum EngineLifecycleEvent: Sendable, Hashable {
    /// Migrations and crash recovery are done; jobs are being taken.
    case ready
    /// A heartbeat round completed.
    case alive
    /// Shutdown began.
    case stopping
}

/// What the engine reports to observers.
public struct EngineStatus: Sendable, Hashable {
    public var inFlight: Int
    /// Completed and failed in this run.
    public var completed: Int
    public var failed: Int
    public var pausedReason: String?
    /// Why the queue cannot be written, while it cannot.
    public var diskProblem: String?
    /// The account it concerns (nil in a pool's summary).
    public var account: String?
    /// Since when it is paused (in a pool's summary: the latest of its accounts' pauses).
    public var pausedSince: Date?
}

/// The program's version as the engine records it.
public enum EngineVersion {
    public static let current = "0.1.0"
}

/// A request to make.
enum Work: Sendable {
    case submit(ClaimedJob, RateLimiter.Ticket)
    case poll(Int64)
    /// A callback named a Legnext job for an uncertain job: ask Legnext about it.
    case confirm(Int64, remoteJobId: String)
}
