import Foundation
import LegnextAPI
import LegnextSimulator
import Logging
import QueueSupport
import ServiceLifecycle

/// Runs a ``LegnextSimulator`` in-process on a loopback port for the duration of `body`.
public func withSimulator<T: Sendable>(
    _ configuration: SimulatorConfiguration = SimulatorConfiguration(),
    _ body: @Sendable (_ simulator: LegnextSimulator, _ baseURL: String) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test-sim")
    logger.logLevel = .warning
    let simulator = LegnextSimulator(configuration: configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [simulator], logger: logger))
    let running = Task { try await group.run() }
    let baseURL = await simulator.baseURL()
    do {
        let result = try await body(simulator, baseURL)
        await group.triggerGracefulShutdown()
        try? await running.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        try? await running.value
        throw error
    }
}

/// A client for the simulator at `baseURL`.
public func simulatorClient(_ baseURL: String, key: String = "sim-key", requestTimeout: Duration = .seconds(10)) -> LegnextClient {
    var logger = Logger(label: "test-client")
    logger.logLevel = .warning
    return LegnextClient(
        configuration: LegnextClientConfiguration(baseURL: baseURL, apiKey: APIKey(key)!, requestTimeout: requestTimeout, maxConnections: 32),
        logger: logger
    )
}

/// `GET /_sim/stats` as JSON.
public func simulatorStats(_ baseURL: String) async throws -> JSONValue {
    let root = baseURL.hasSuffix("/api") ? String(baseURL.dropLast(4)) : baseURL
    let (data, _) = try await URLSessionLite.get(root + "/_sim/stats")
    return try JSONValue(data: data)
}

/// `GET /api/account/active_tasks` with `key`: Legnext's list of the key's unfinished jobs, as JSON.
public func simulatorActiveTasks(_ baseURL: String, key: String = "sim-key") async throws -> JSONValue {
    let root = baseURL.hasSuffix("/api") ? String(baseURL.dropLast(4)) : baseURL
    let (data, _) = try await URLSessionLite.send(root + "/api/account/active_tasks", method: .GET, body: nil, headers: ["x-api-key": key])
    return try JSONValue(data: data)
}

/// `GET /_sim/job-lengths`: each job's time in a slot, in the order the jobs were created.
public func simulatorJobLengths(_ baseURL: String) async throws -> [Double] {
    let root = baseURL.hasSuffix("/api") ? String(baseURL.dropLast(4)) : baseURL
    let (data, _) = try await URLSessionLite.get(root + "/_sim/job-lengths")
    return try JSONValue(data: data)["lengths"]?.arrayValue?.compactMap(\.doubleValue) ?? []
}

/// `POST /_sim/credits`.
public func addSimulatorCredits(_ baseURL: String, points: Int) async throws {
    let root = baseURL.hasSuffix("/api") ? String(baseURL.dropLast(4)) : baseURL
    _ = try await URLSessionLite.post(root + "/_sim/credits", body: Data("{\"points\": \(points)}".utf8))
}

extension JSONValue {
    /// A number at a path of object keys, e.g. `stats.number("credits", "left")`.
    public func number(_ path: String...) -> Double? {
        var value: JSONValue? = self
        for key in path { value = value?[key] }
        return value?.doubleValue
    }
}
