import ArgumentParser
import Foundation
import LegnextSimulator
import Logging
import ServiceLifecycle

/// `legnext-sim`: the Legnext simulator on a port, for tests, benchmarks and demos.
@main
struct LegnextSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legnext-sim",
        abstract: "A local Legnext API simulator with knobs for every way the real one misbehaves.",
        discussion: """
            Serves the Legnext API under http://HOST:PORT/api, plus GET /_sim/stats (a ledger of what it saw)
            and POST /_sim/credits {"points": N} (with "account": NAME, another account's). A prompt may carry test hooks: sim:fail, sim:reject=403, sim:drop, sim:stall-download,
            sim:get-errors=N, sim:post-errors=N, sim:duration=SECONDS.
            """
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one (printed on start).") var port = 0
    @Option(name: .customLong("api-key"), help: "The first account's API key (its plan: --credits, --rate-limit, --concurrency).")
    var apiKey = "sim-key"
    @Option(
        name: .customLong("account"),
        help: "Another account, with its own key and plan: name=b,key=KEY[,credits=N][,concurrency=N][,rate=R]. Repeatable."
    )
    var accounts: [String] = []
    @Option(help: "Seed of all random draws.") var seed: UInt64 = 1
    @Option(help: "The first account's points.") var credits = 1_000_000_000
    @Option(name: .customLong("rate-limit"), help: "The first account's requests per second over a sliding second (0 = off).") var rateLimit = 0.0
    @Option(help: "The first account's jobs processing at once; the rest wait in pending (0 = no limit).") var concurrency = 0
    @Option(name: .customLong("duration-median"), help: "Median job duration, seconds.") var durationMedian = 2.0
    @Option(name: .customLong("duration-spread"), help: "Log-normal sigma of job durations.") var durationSpread = 0.3
    @Option(
        name: .customLong("time-scale"),
        help: ArgumentHelp(
            "Each kind lasts as Legnext documents it (a diffusion 30-90 s, a video 3-5 min, ...) times this factor.",
            discussion: "Replaces --duration-median and --duration-spread."
        )
    )
    var timeScale: Double?
    @Option(name: .customLong("fail-rate"), help: "Share of jobs that end failed.") var failRate = 0.0
    @Option(name: .customLong("error-rate"), help: "Share of requests answered 500 before doing anything.") var errorRate = 0.0
    @Option(name: .customLong("drop-rate"), help: "Share of requests handled, then dropped without an answer.") var dropRate = 0.0
    @Option(help: "Milliseconds added to every answer.") var latency = 0
    @Option(name: .customLong("malformed-rate"), help: "Share of requests answered 200 with a body that is not JSON.") var malformedRate = 0.0
    @Flag(name: .customLong("no-active-tasks"), help: "Answer GET /account/active_tasks with 404, as a server without it would.")
    var noActiveTasks = false
    @Option(
        name: .customLong("webhook-secret-file"),
        help: "Sign callbacks with the secret in FILE, as Legnext signs them for an account with a webhook secret."
    )
    var webhookSecretFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        for (name, value) in [("fail-rate", failRate), ("error-rate", errorRate), ("drop-rate", dropRate), ("malformed-rate", malformedRate)] {
            guard (0...1).contains(value) else { throw ValidationError("--\(name) must be between 0 and 1") }
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        if let timeScale, !(timeScale > 0) { throw ValidationError("--time-scale must be more than 0, e.g. 0.01") }
        guard durationMedian >= 0, durationSpread >= 0, rateLimit >= 0, concurrency >= 0, latency >= 0 else {
            throw ValidationError("durations, rates, concurrency and latency must not be negative")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        var logger = Logger(label: "legnext-sim")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var config = SimulatorConfiguration()
        config.host = host
        config.port = port
        config.apiKey = apiKey
        config.seed = seed
        config.credits = credits
        config.rateLimit = rateLimit
        config.concurrency = concurrency
        config.durationMedian = durationMedian
        config.durationSpread = durationSpread
        config.timeScale = timeScale
        config.failRate = failRate
        config.errorRate = errorRate
        config.dropRate = dropRate
        config.latencyMilliseconds = latency
        config.malformedRate = malformedRate
        config.activeTasks = !noActiveTasks
        do {
            config.otherAccounts = try accounts.map { text throws(SimulatorConfiguration.AccountError) in
                try SimulatorConfiguration.Account(parsing: text)
            }
        } catch {
            throw ValidationError(error.description)
        }
        let names = config.accounts.map(\.name)
        let keys = config.accounts.map(\.apiKey)
        guard Set(names).count == names.count, Set(keys).count == keys.count else {
            throw ValidationError("every --account needs a name and a key of its own (the first account is \"default\", key --api-key)")
        }
        if let webhookSecretFile {
            guard let data = FileManager.default.contents(atPath: webhookSecretFile),
                let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty
            else { throw ValidationError("cannot read a secret from --webhook-secret-file \(webhookSecretFile)") }
            config.webhookSecret = Data(secret.utf8)
        }
        let simulator = LegnextSimulator(configuration: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [simulator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                let port = await simulator.port()
                FileHandle.standardOutput.write(Data("legnext-sim listening on http://\(host):\(port)/api\n".utf8))
            }
            try await tasks.waitForAll()
        }
    }
}
