import Foundation
import LegnextAPI
import Logging
import QueueEngine
import QueueStore
import QueueSupport
import ServiceLifecycle

/// The daemon as one `Service`: builds the Legnext client (once the base URL is known, which
/// with `--simulate` is after the simulator has bound its port), runs the engine, reports
/// progress to the log and to systemd, and closes the client.
struct DaemonService: Service {
    let store: QueueStore
    let key: APIKey
    let baseURL: @Sendable () async -> String
    let engineConfiguration: EngineConfiguration
    let logger: Logger
    let progressInterval: TimeInterval
    let onStatus: (@Sendable (EngineStatus) -> Void)?
    let notifier: SystemdNotifier?

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
        let engine = QueueEngine(store: store, legnext: client, configuration: engineConfiguration, logger: logger)
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
        logger.info(
            "draining \(store.path) against \(client.configuration.baseURL): concurrency \(engineConfiguration.concurrency), rate \(engineConfiguration.rate == 0 ? "unlimited" : String(engineConfiguration.rate) + "/s")"
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                group.addTask { await progressLoop() }
                // The progress reporter never ends by itself: whatever ends first is the engine.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
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
