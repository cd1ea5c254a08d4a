import Foundation
import LegnextAPI
import LegnextSimulator
import Logging
import QueueEngine
import QueueStore
import QueueSupport
import ServiceLifecycle

/// A queue file, the simulator, the real client and the engine, all in this process.
public struct EngineHarness: Sendable {
    public let dir: TemporaryDirectory
    public let store: QueueStore
    public let baseURL: String

    /// Runs `body` with a fresh queue and a simulator; the engine is started by ``run(_:until:)``.
    public static func with<T: Sendable>(
        simulator: SimulatorConfiguration,
        _ body: @Sendable (EngineHarness) async throws -> T
    ) async throws -> T {
        let dir = try TemporaryDirectory("engine")
        defer { dir.remove() }
        let store = try QueueStore.open(path: dir.file("queue.db"), options: .init(create: true, migrate: true))
        return try await withSimulator(simulator) { _, baseURL in
            try await body(EngineHarness(dir: dir, store: store, baseURL: baseURL))
        }
    }

    /// Runs the engine until `condition` holds (checked every 50 ms) or `timeout`, then stops it
    /// gracefully. Returns whether the condition held.
    @discardableResult
    public func run(
        _ configuration: EngineConfiguration,
        key: String = "sim-key",
        timeout: TimeInterval = 60,
        until condition: @escaping @Sendable () throws -> Bool
    ) async throws -> Bool {
        var logger = Logger(label: "engine")
        logger.logLevel = .warning
        let client = simulatorClient(baseURL, key: key)
        let engine = QueueEngine(store: store, legnext: client, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [engine], logger: logger))
        let running = Task { try await group.run() }
        let deadline = Date().addingTimeInterval(timeout)
        var met = false
        while Date() < deadline {
            if try condition() {
                met = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await group.triggerGracefulShutdown()
        try await running.value
        try await client.shutdown()
        return met
    }

    /// Every job has reached a state in `states`.
    public func all(in states: Set<JobState>) throws -> Bool {
        let status = try store.status()
        return status.total > 0 && status.counts.filter { !states.contains($0.key) }.values.allSatisfy { $0 == 0 }
    }

    public func stats() async throws -> JSONValue { try await simulatorStats(baseURL) }
}
