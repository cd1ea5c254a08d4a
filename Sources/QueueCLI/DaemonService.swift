import Foundation
import LegnextAPI
import Logging
import Prometheus
import QueueEngine
import QueueHTTP
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Where callbacks are received, and the address Legnext is told to use.
struct CallbackSettings: Sendable {
    var host: String
    var port: Int
    /// The public base URL; nil: `http://HOST:PORT` (a loopback or LAN address).
    var publicURL: String?
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

    func run() async throws {
        var engineConfiguration = engineConfiguration
        if let interval = notifier?.watchdogInterval {
            engineConfiguration.heartbeatInterval = min(engineConfiguration.heartbeatInterval, interval)
        }
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(
                baseURL: await baseURL(),
                apiKey: key,
                maxConnections: max(4, engineConfiguration.concurrency * 2)
            ),
            logger: logger
        )
        let receiver = callbacks.map { CallbackReceiver(store: store, host: $0.host, port: $0.port, logger: logger) }
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                if let metrics {
                    let endpoint = MetricsEndpoint(registry: metrics.registry, store: store, host: metrics.host, port: metrics.port, logger: logger)
                    group.addTask {
                        try await endpoint.run()
                        return false
                    }
                    guard await endpoint.port() != nil else {
                        while try await group.next() != nil {}  // rethrows why it could not listen
                        return
                    }
                }
                if let receiver, let callbacks {
                    group.addTask {
                        try await receiver.run()
                        return false
                    }
                    guard let port = await receiver.port() else {
                        while try await group.next() != nil {}  // rethrows why it could not listen
                        return
                    }
                    let host = callbacks.host.contains(":") ? "[\(callbacks.host)]" : callbacks.host
                    engineConfiguration.callbackBaseURL = callbacks.publicURL ?? "http://\(host):\(port)"
                }
                let engine = makeEngine(client, engineConfiguration)
                receiver?.attach(engine)
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
                // The daemon ends with the engine; the progress reporter and the receiver follow.
                while let isEngine = try await group.next(), !isEngine {}
                group.cancelAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func makeEngine(_ client: LegnextClient, _ configuration: EngineConfiguration) -> QueueEngine {
        let engine = QueueEngine(store: store, legnext: client, configuration: configuration, logger: logger)
        if let onStatus { engine.observeStatus(onStatus) }
        if let notifier {
            let watchdog = notifier.watchdogInterval != nil
            engine.observeLifecycle { event in
                switch event {
                case .ready: notifier.ready(status: "started")
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
            if !first { try? await Task.sleep(for: .milliseconds(Int64(progressInterval * 1000))) }
            first = false
            guard let status = try? store.status() else { continue }
            let line = Self.summary(status)
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
