import Foundation
import LegnextAPI
import Logging
import QueueEngine
import QueueHTTP
import QueueStore
import QueueSupport
import ServiceLifecycle
import UnixSignals

/// The engine as a service: builds the Legnext client once the base URL is known (with
/// `--simulate`, after the simulator has bound its port), learns the plan's concurrency, takes
/// the callback receiver's address, runs the engine (SIGHUP reads the key again), and closes
/// the client. The group's order does the rest: the services before it in the list (listeners,
/// downloader, outboxes) start before it and stop after it.
struct EngineService: Service {
    let store: QueueStore
    /// The accounts to send with: one, `default`, unless `--account` named several.
    let accounts: [AccountSetup]
    let baseURL: @Sendable () async -> String
    var configuration: EngineConfiguration
    let logger: Logger
    var clock: any QueueClock = WallClock()
    let diskAlarm: DiskAlarm
    var notifier: SystemdNotifier?
    /// The receiver whose address goes into each submission, and where it listens.
    var callbacks: (receiver: CallbackReceiver, settings: CallbackSettings)?
    /// Other listeners that must be listening before any job is taken (`/metrics`): each
    /// returns its port, or nil when it could not listen.
    var listeners: [@Sendable () async -> Int?] = []
    /// Called when the engine's counts change: a job may have ended (downloads, notifications).
    var wake: @Sendable () -> Void = {}
    /// Whether outputs are downloaded or notifications sent: with the queue drained, what is
    /// due of them soon is given a minute before the daemon leaves.
    var hasOutbox = false

    /// One Legnext account as the command line gave it. The key is held in memory only.
    struct AccountSetup: Sendable {
        var name = AccountRoute.defaultName
        var key: APIKey
        /// Reads the key again (SIGHUP, and before each balance check while it is refused).
        var reloadKey: (@Sendable () -> APIKey?)?
        /// Jobs in flight exactly (`--concurrency`); nil: the plan's limit and a lead.
        var concurrency: Int?
        /// The plan's limit as `--plan-concurrency` gave it; nil: learnt from `active_tasks`.
        var planConcurrency: Int?
        var rate: Double
        var burst: Int
        var priority = 0
        /// Named with `--account` (log lines then say which account they concern).
        var named = false
    }

    func run() async throws {
        var configuration = configuration
        if let interval = notifier?.watchdogInterval {
            configuration.heartbeatInterval = min(configuration.heartbeatInterval, interval)
        }
        for listener in listeners {
            // Nil: it could not listen, and the group is stopping with its error.
            guard await listener() != nil else { return try await gracefulShutdown() }
        }
        if let (receiver, settings) = callbacks {
            guard let port = await receiver.port() else { return try await gracefulShutdown() }
            let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
            configuration.callbackBaseURL = settings.publicURL ?? "http://\(host):\(port)"
        }
        let url = await baseURL()
        var clients: [LegnextClient] = []
        do {
            var members: [EnginePool.Account] = []
            for account in accounts {
                let client = LegnextClient(
                    configuration: LegnextClientConfiguration(
                        baseURL: url,
                        apiKey: account.key,
                        maxConnections: max(
                            4,
                            (account.planConcurrency.map { $0 + PlanLead.cap(plan: $0) } ?? account.concurrency ?? 16) * 2
                        )
                    ),
                    logger: logger
                )
                clients.append(client)
                members.append(.init(configuration: await accountConfiguration(account, base: configuration, client), legnext: client))
            }
            if members.count == 1, !accounts[0].named {
                try await runEngine(members[0], url: url)
            } else {
                try await runPool(members, url: url)
            }
        } catch {
            for client in clients { try? await client.shutdown() }
            throw error
        }
        for client in clients { try await client.shutdown() }
    }

    /// One account's engine configuration: its limits, learnt or given, and its key's reader.
    private func accountConfiguration(_ account: AccountSetup, base: EngineConfiguration, _ client: LegnextClient) async -> EngineConfiguration {
        var configuration = base
        configuration.route = AccountRoute(name: account.name, all: [account.name])
        configuration.rate = account.rate
        configuration.burst = account.burst
        configuration.priority = account.priority
        configuration.reloadKey = account.reloadKey
        configuration.concurrency = account.concurrency ?? EngineConfiguration().concurrency
        let prefix = account.named ? "account \(account.name): " : ""
        if account.concurrency == nil, account.planConcurrency == nil, let plan = await planConcurrency(client, prefix: prefix) {
            configuration.plan = plan
        }
        if let plan = account.planConcurrency {
            configuration.plan = plan
            logger.notice("\(prefix)the plan runs \(plan) jobs at once (--plan-concurrency): \(Self.leadSummary(plan: plan))")
        }
        if let plan = configuration.plan { configuration.concurrency = plan + PlanLead.cap(plan: plan) }
        return configuration
    }

    private func runEngine(_ account: EnginePool.Account, url: String) async throws {
        let configuration = account.configuration
        let engine = QueueEngine(
            store: store,
            legnext: account.legnext,
            configuration: configuration,
            clock: clock,
            diskAlarm: diskAlarm,
            logger: logger
        )
        engine.observeStatus { [wake] _ in wake() }
        observeLifecycle(engine.observeLifecycle)
        callbacks?.receiver.attach(engine)
        logger.info(
            "draining \(store.path) against \(url): concurrency \(Self.inFlight(configuration)), rate \(Self.rate(configuration))\(callbackNote(configuration))"
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { engine.reloadKey() }
            }
            try await engine.run()
            if engine.drained { await settleOutbox() }
            group.cancelAll()
        }
    }

    private func runPool(_ accounts: [EnginePool.Account], url: String) async throws {
        let pool = EnginePool(store: store, accounts: accounts, baseURL: url, clock: clock, diskAlarm: diskAlarm, logger: logger)
        pool.observeStatus { [wake] _ in wake() }
        observeLifecycle(pool.observeLifecycle)
        callbacks?.receiver.attach(pool)
        let each = pool.engines.map {
            "\($0.route.name) (concurrency \(Self.inFlight($0.configuration)), rate \(Self.rate($0.configuration))\($0.configuration.priority != 0 ? ", priority \($0.configuration.priority)" : ""))"
        }
        logger.info(
            "draining \(store.path) against \(url) with \(accounts.count) account(s): \(each.joined(separator: ", "))\(callbackNote(accounts[0].configuration))"
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { pool.reloadKeys() }
            }
            try await pool.run()
            if pool.drained { await settleOutbox() }
            group.cancelAll()
        }
    }

    private func callbackNote(_ configuration: EngineConfiguration) -> String {
        configuration.callbackBaseURL.map { ", callbacks to \($0)/legnext/" } ?? ""
    }

    static func rate(_ configuration: EngineConfiguration) -> String {
        configuration.rate == 0 ? "unlimited" : String(configuration.rate) + "/s"
    }

    /// systemd's READY, WATCHDOG and STOPPING from the engine's (or pool's) milestones.
    private func observeLifecycle(_ observe: (@escaping @Sendable (EngineLifecycleEvent) -> Void) -> Void) {
        guard let notifier else { return }
        let watchdog = notifier.watchdogInterval != nil
        let store = store
        observe { event in
            switch event {
            // READY carries the counts: a later STATUS= only comes when they change, and an
            // idle queue would say "started" for ever.
            case .ready: notifier.ready(status: (try? store.status()).map(ProgressReporter.summary) ?? "started")
            case .alive: if watchdog { notifier.watchdog() }
            case .stopping: notifier.stopping(status: "stopping: finishing the requests under way")
            }
        }
    }

    /// The in-flight limit for the log: a number, or the plan and its lead's range.
    static func inFlight(_ configuration: EngineConfiguration) -> String {
        guard let plan = configuration.plan, PlanLead.cap(plan: plan) > PlanLead.initial(plan: plan) else { return "\(configuration.concurrency)" }
        return "\(plan + PlanLead.initial(plan: plan))–\(configuration.concurrency)"
    }

    /// What the daemon keeps in flight on a plan of `plan`, for the log.
    static func leadSummary(plan: Int) -> String {
        let (initial, cap) = (PlanLead.initial(plan: plan), PlanLead.cap(plan: plan))
        let more = cap > initial ? " (up to \(plan + cap) as our completion lag asks)" : ""
        return
            "concurrency \(plan + initial)\(more), \(initial) of them waiting in Legnext's own queue so a freed slot is refilled at once"
    }

    /// The plan's concurrency as `active_tasks` reports it, or nil (the fallback said in the log).
    private func planConcurrency(_ client: LegnextClient, prefix: String) async -> Int? {
        let fallback = configuration.concurrency
        switch await client.activeTasks() {
        case .success(let active):
            if let limit = active.concurrentLimit, limit > 0 {
                logger.notice(
                    "\(prefix)the plan runs \(limit) jobs at once (GET /account/active_tasks, \(active.totalActive ?? active.tasks.count) active now): \(Self.leadSummary(plan: limit)); --concurrency overrides it"
                )
                return limit
            }
            logger.notice("\(prefix)GET /account/active_tasks reports no concurrency limit: concurrency \(fallback) (--concurrency sets it)")
        case .rejected(let failure) where failure.httpStatus == 404:
            logger.notice("\(prefix)this server has no /account/active_tasks: concurrency \(fallback); set --concurrency to your plan's limit")
        default:
            logger.notice("\(prefix)cannot ask for the plan's limit (GET /account/active_tasks): concurrency \(fallback) (--concurrency sets it)")
        }
        return nil
    }

    /// With the queue drained, gives downloads and notifications due soon up to a minute to go
    /// out before the process leaves (the downloader and outboxes are still running: they stop
    /// after this service); what remains is picked up by the next start.
    private func settleOutbox() async {
        guard hasOutbox else { return }
        let deadline = clock.now().addingTimeInterval(60)
        while clock.now() < deadline {
            do {
                guard try store.hasOutboxWork(within: 5, now: clock.now()) else { return }
            } catch {
                logger.warning("cannot tell whether downloads or notifications are due: \(error); leaving them to the next start")
                return
            }
            try? await clock.sleep(until: clock.now().addingTimeInterval(0.2))
        }
    }
}
