import AsyncHTTPClient
import Foundation
import LegnextAPI
import Logging
import Prometheus
import QueueEngine
import QueueHTTP
import QueueOutputs
import QueueStore
import QueueSupport
import ServiceLifecycle
import UnixSignals

/// Where callbacks are received, and the address Legnext is told to use.
struct CallbackSettings: Sendable {
    var host: String
    var port: Int
    /// The public base URL; nil: `http://HOST:PORT` (a loopback or LAN address).
    var publicURL: String?
    /// The account's webhook secret: callbacks must be signed with it.
    var signingSecret: Data?
}

/// What happens to results besides the queue: downloads, notify URL, finish command.
struct OutputSettings: Sendable {
    var downloads: OutputDownloader.Configuration?
    var notifyURL: String?
    var notifySecret: Data?
    var onFinish: String?
    var onFinishTimeout: TimeInterval = 60
    var outbox = NotificationOutbox.Configuration()

    var channels: [String] {
        (notifyURL == nil ? [] : [JobNotification.Channel.webhook.rawValue]) + (onFinish == nil ? [] : [JobNotification.Channel.command.rawValue])
    }
}

/// Where Prometheus scrapes, and the registry swift-metrics reports into.
struct MetricsSettings: Sendable {
    var host: String
    var port: Int
    var registry: PrometheusCollectorRegistry
}

/// The daemon as one `Service`: builds the Legnext client (once the base URL is known, which
/// with `--simulate` is after the simulator has bound its port), starts the callback receiver,
/// runs the engine, reports progress to the log and to systemd, and closes the client.
struct DaemonService: Service {
    let store: QueueStore
    let key: APIKey
    let baseURL: @Sendable () async -> String
    let engineConfiguration: EngineConfiguration
    let logger: Logger
    let progressInterval: TimeInterval
    let onStatus: (@Sendable (EngineStatus) -> Void)?
    let notifier: SystemdNotifier?
    var callbacks: CallbackSettings?
    var metrics: MetricsSettings?
    var outputs = OutputSettings()
    /// No `--concurrency` was given: take the plan's limit from `GET /account/active_tasks`.
    var learnConcurrency = false
    /// Raised by the engine and the downloader while their writes fail for want of space.
    let diskAlarm = DiskAlarm()
    /// Now and waits, for every part.
    var clock: any QueueClock = WallClock()

    func run() async throws {
        var engineConfiguration = engineConfiguration
        if let interval = notifier?.watchdogInterval {
            engineConfiguration.heartbeatInterval = min(engineConfiguration.heartbeatInterval, interval)
        }
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(
                baseURL: await baseURL(),
                apiKey: key,
                maxConnections: max(4, (learnConcurrency ? 16 : engineConfiguration.concurrency) * 2)
            ),
            logger: logger
        )
        if learnConcurrency { engineConfiguration.concurrency = await planConcurrency(client, otherwise: engineConfiguration.concurrency) }
        engineConfiguration.downloadOutputs = outputs.downloads != nil
        engineConfiguration.notifyChannels = outputs.channels
        let helpers = makeHelpers()
        let receiver = callbacks.map { CallbackReceiver(store: store, host: $0.host, port: $0.port, signingSecret: $0.signingSecret, logger: logger) }
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                if let metrics {
                    let endpoint = MetricsEndpoint(registry: metrics.registry, store: store, host: metrics.host, port: metrics.port, logger: logger)
                    guard try await listen(in: &group, run: endpoint.run, port: endpoint.port) != nil else { return }
                }
                if let receiver, let callbacks {
                    guard let port = try await listen(in: &group, run: receiver.run, port: receiver.port) else { return }
                    let host = callbacks.host.contains(":") ? "[\(callbacks.host)]" : callbacks.host
                    engineConfiguration.callbackBaseURL = callbacks.publicURL ?? "http://\(host):\(port)"
                }
                let engine = makeEngine(client, engineConfiguration)
                receiver?.attach(engine)
                engine.observeStatus { _ in helpers.wake() }
                for task in helpers.tasks {
                    group.addTask {
                        await task()
                        return false
                    }
                }
                logger.info(
                    "draining \(store.path) against \(client.configuration.baseURL): concurrency \(engineConfiguration.concurrency), rate \(engineConfiguration.rate == 0 ? "unlimited" : String(engineConfiguration.rate) + "/s")\(engineConfiguration.callbackBaseURL.map { ", callbacks to \($0)/legnext/" } ?? "")"
                )
                group.addTask {
                    try await engine.run()
                    return true
                }
                group.addTask {
                    await progressLoop()
                    return false
                }
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { engine.reloadKey() }
                    return false
                }
                // The daemon ends with the engine; the helpers follow, after finishing what is
                // due when the queue merely ran dry (--exit-when-idle).
                while let isEngine = try await group.next(), !isEngine {}
                if engine.drained { await settleOutbox() }
                group.cancelAll()
            }
        } catch {
            try? await helpers.http?.shutdown()
            try? await client.shutdown()
            throw error
        }
        try? await helpers.http?.shutdown()
        try await client.shutdown()
    }

    /// The plan's concurrency as `active_tasks` reports it, or `fallback` (said in the log).
    private func planConcurrency(_ client: LegnextClient, otherwise fallback: Int) async -> Int {
        switch await client.activeTasks() {
        case .success(let active):
            if let limit = active.concurrentLimit, limit > 0 {
                logger.notice(
                    "the plan runs \(limit) jobs at once (GET /account/active_tasks, \(active.totalActive ?? active.tasks.count) active now): concurrency \(limit); --concurrency overrides it"
                )
                return limit
            }
            logger.notice("GET /account/active_tasks reports no concurrency limit: concurrency \(fallback) (--concurrency sets it)")
        case .rejected(let failure) where failure.httpStatus == 404:
            logger.notice("this server has no /account/active_tasks: concurrency \(fallback); set --concurrency to your plan's limit")
        default:
            logger.notice("cannot ask for the plan's limit (GET /account/active_tasks): concurrency \(fallback) (--concurrency sets it)")
        }
        return fallback
    }

    /// Starts a server in `group` and waits until it listens; returns its port, or nil after
    /// rethrowing why it could not.
    private func listen(
        in group: inout ThrowingTaskGroup<Bool, any Error>,
        run: @escaping @Sendable () async throws -> Void,
        port: () async -> Int?
    ) async throws -> Int? {
        group.addTask {
            try await run()
            return false
        }
        if let port = await port() { return port }
        while try await group.next() != nil {}  // rethrows why it could not listen
        return nil
    }

    /// The downloader and the notification outboxes, as tasks and one wake-up for them all.
    private func makeHelpers() -> (tasks: [@Sendable () async -> Void], wake: @Sendable () -> Void, http: HTTPClient?) {
        var tasks: [@Sendable () async -> Void] = []
        var wakes: [@Sendable () -> Void] = []
        if let configuration = outputs.downloads {
            let downloader = OutputDownloader(store: store, configuration: configuration, diskAlarm: diskAlarm, clock: clock, logger: logger)
            tasks.append { await downloader.run() }
            wakes.append { downloader.wake() }
        }
        var http: HTTPClient?
        if let url = outputs.notifyURL, let secret = outputs.notifySecret {
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            http = client
            let webhook = WebhookNotifier(url: url, secret: secret, client: client, clock: clock)
            let outbox = NotificationOutbox(store: store, channel: .webhook, configuration: outputs.outbox, clock: clock, logger: logger) {
                await webhook.deliver($0, $1)
            }
            tasks.append { await outbox.run() }
            wakes.append { outbox.wake() }
        }
        if let command = outputs.onFinish {
            let runner = FinishCommand(command: command, timeout: outputs.onFinishTimeout, databasePath: store.path)
            let outbox = NotificationOutbox(store: store, channel: .command, configuration: outputs.outbox, clock: clock, logger: logger) {
                await runner.deliver($0, $1)
            }
            tasks.append { await outbox.run() }
            wakes.append { outbox.wake() }
        }
        let all = wakes
        return (tasks, { for wake in all { wake() } }, http)
    }

    /// With the queue drained, gives downloads and notifications due soon up to a minute to go
    /// out before the process leaves; what remains is picked up by the next start.
    private func settleOutbox() async {
        guard outputs.downloads != nil || !outputs.channels.isEmpty else { return }
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

    private func makeEngine(_ client: LegnextClient, _ configuration: EngineConfiguration) -> QueueEngine {
        let engine = QueueEngine(store: store, legnext: client, configuration: configuration, clock: clock, diskAlarm: diskAlarm, logger: logger)
        if let onStatus { engine.observeStatus(onStatus) }
        if let notifier {
            let watchdog = notifier.watchdogInterval != nil
            engine.observeLifecycle { event in
                switch event {
                // READY carries the counts: a later STATUS= only comes when they change, and an
                // idle queue would say "started" for ever.
                case .ready: notifier.ready(status: (try? store.status()).map(Self.summary) ?? "started")
                case .alive: if watchdog { notifier.watchdog() }
                case .stopping: notifier.stopping(status: "stopping: finishing the requests under way")
                }
            }
        }
        return engine
    }

    private func progressLoop() async {
        var last = ""
        var first = true
        while !Task.isCancelled {
            if !first { try? await clock.sleep(until: clock.now().addingTimeInterval(progressInterval)) }
            first = false
            let status: QueueStatus
            do {
                status = try store.status()
            } catch {
                logger.warning("progress: cannot read the counts: \(error)")
                continue
            }
            var line = Self.summary(status)
            if let problem = diskAlarm.current { line += "; DISK FULL: \(problem)" }
            if line != last {
                logger.info("progress: \(line)")
                notifier?.status(line)
                last = line
            }
        }
    }

    /// One line for the log and for `systemctl status`.
    static func summary(_ status: QueueStatus) -> String {
        var line =
            "\(status.counts[.queued] ?? 0) queued, \(status.inFlight) in flight, \(status.counts[.completed] ?? 0) completed, \(status.counts[.failed] ?? 0) failed"
        if let uncertain = status.counts[.uncertain], uncertain > 0 { line += ", \(uncertain) uncertain" }
        if let reason = status.daemon?.pausedReason { line += "; paused: \(reason)" }
        return line
    }
}
