import Foundation
import LegnextAPI
import Logging
import QueueEngine
import QueueStore
import ServiceLifecycle

/// The daemon as one `Service`: builds the Legnext client (once the base URL is known, which
/// with `--simulate` is after the simulator has bound its port), runs the engine, reports
/// progress, and closes the client.
struct DaemonService: Service {
    let store: QueueStore
    let key: APIKey
    let baseURL: @Sendable () async -> String
    let engineConfiguration: EngineConfiguration
    let logger: Logger
    let progressInterval: TimeInterval
    let onStatus: (@Sendable (EngineStatus) -> Void)?

    func run() async throws {
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(
                baseURL: await baseURL(), apiKey: key, maxConnections: max(4, engineConfiguration.concurrency * 2)),
            logger: logger)
        let engine = QueueEngine(store: store, legnext: client, configuration: engineConfiguration, logger: logger)
        if let onStatus { engine.observeStatus(onStatus) }
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
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(progressInterval * 1000)))
            guard let status = try? store.status() else { continue }
            let line =
                "progress: \(status.counts[.queued] ?? 0) queued, \(status.inFlight) in flight, \(status.counts[.completed] ?? 0) completed, \(status.counts[.failed] ?? 0) failed, \(status.counts[.uncertain] ?? 0) uncertain"
            if line != last {
                logger.info("\(line)")
                last = line
            }
        }
    }
}
