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
    let key: APIKey
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
    /// No `--concurrency` was given: take the plan's limit from `GET /account/active_tasks`.
    var learnConcurrency = false
    /// The plan's limit as `--plan-concurrency` gave it: the engine keeps it and a lead in flight.
    var planConcurrency: Int?
    /// Called when the engine's counts change: a job may have ended (downloads, notifications).
    var wake: @Sendable () -> Void = {}
    /// Whether outputs are downloaded or notifications sent: with the queue drained, what is
    /// due of them soon is given a minute before the daemon leaves.
    var hasOutbox = false

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
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(
                baseURL: await baseURL(),
                apiKey: key,
                maxConnections: max(
                    4,
                    (planConcurrency.map { $0 + PlanLead.cap(plan: $0) } ?? (learnConcurrency ? 16 : configuration.concurrency)) * 2
                )
            ),
            logger: logger
        )
        do {
            if learnConcurrency, let plan = await planConcurrency(client) { configuration.plan = plan }
            if let plan = planConcurrency {
                configuration.plan = plan
                logger.notice("the plan runs \(plan) jobs at once (--plan-concurrency): \(Self.leadSummary(plan: plan))")
            }
            if let plan = configuration.plan { configuration.concurrency = plan + PlanLead.cap(plan: plan) }
            let engine = makeEngine(client, configuration)
            callbacks?.receiver.attach(engine)
            logger.info(
                "draining \(store.path) against \(client.configuration.baseURL): concurrency \(Self.inFlight(configuration)), rate \(configuration.rate == 0 ? "unlimited" : String(configuration.rate) + "/s")\(configuration.callbackBaseURL.map { ", callbacks to \($0)/legnext/" } ?? "")"
            )
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { engine.reloadKey() }
                }
                try await engine.run()
                if engine.drained { await settleOutbox() }
                group.cancelAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func makeEngine(_ client: LegnextClient, _ configuration: EngineConfiguration) -> QueueEngine {
        let engine = QueueEngine(store: store, legnext: client, configuration: configuration, clock: clock, diskAlarm: diskAlarm, logger: logger)
        engine.observeStatus { [wake] _ in wake() }
        if let notifier {
            let watchdog = notifier.watchdogInterval != nil
            let store = store
            engine.observeLifecycle { event in
                switch event {
                // READY carries the counts: a later STATUS= only comes when they change, and an
                // idle queue would say "started" for ever.
                case .ready: notifier.ready(status: (try? store.status()).map(ProgressReporter.summary) ?? "started")
                case .alive: if watchdog { notifier.watchdog() }
                case .stopping: notifier.stopping(status: "stopping: finishing the requests under way")
                }
            }
        }
        return engine
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
    private func planConcurrency(_ client: LegnextClient) async -> Int? {
        let fallback = configuration.concurrency
        switch await client.activeTasks() {
        case .success(let active):
            if let limit = active.concurrentLimit, limit > 0 {
                logger.notice(
                    "the plan runs \(limit) jobs at once (GET /account/active_tasks, \(active.totalActive ?? active.tasks.count) active now): \(Self.leadSummary(plan: limit)); --concurrency overrides it"
                )
                return limit
            }
            logger.notice("GET /account/active_tasks reports no concurrency limit: concurrency \(fallback) (--concurrency sets it)")
        case .rejected(let failure) where failure.httpStatus == 404:
            logger.notice("this server has no /account/active_tasks: concurrency \(fallback); set --concurrency to your plan's limit")
        default:
            logger.notice("cannot ask for the plan's limit (GET /account/active_tasks): concurrency \(fallback) (--concurrency sets it)")
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
