import ArgumentParser
import Foundation
import LegnextAPI
import LegnextSimulator
import Logging
import QueueEngine
import QueueHTTP
import QueueStore
import QueueSupport
import ServiceLifecycle

/// `legnext-queue run`: the daemon.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: submit queued jobs to Legnext and follow them to the end.",
        discussion: """
            The API key comes from $LEGNEXT_API_KEY, --api-key-file, or $CREDENTIALS_DIRECTORY/legnext-api-key
            (systemd LoadCredential=) — never from the command line. --simulate needs no key: it starts the
            built-in Legnext simulator on loopback and drains the queue against it.
            SIGTERM or SIGINT stops it cleanly: no new submissions, requests under way finish, outcomes recorded.
            """
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }

    @Option(help: "Remote jobs in flight at most.") var concurrency = 4
    @Option(help: "Requests per second to Legnext (submissions, polls and balance checks together); 0 = unlimited.") var rate = 2.0
    @Option(help: "Requests that may go at once after a quiet spell (default: the rate, at least 1).") var burst: Int?
    @Option(name: .customLong("max-attempts"), help: "Submissions tried per job when the request provably did not reach Legnext.")
    var maxAttempts = 5
    @Option(name: .customLong("give-up-after"), help: "Fail a job unfinished this long after submission (e.g. 30m).") var giveUpAfter = "30m"
    @Option(name: .customLong("no-progress-timeout"), help: "Fail a job whose Legnext status has not changed for this long.")
    var noProgressTimeout = "10m"
    @Option(name: .customLong("poll-budget"), help: "Average status requests per job to aim at.") var pollBudget = 2.0
    @Option(name: .customLong("grace-period"), help: "On SIGTERM, time for requests under way to finish.") var gracePeriod = "20s"
    @Flag(name: .customLong("exit-when-idle"), help: "Exit once nothing is queued or in flight.") var exitWhenIdle = false
    @Flag(
        name: .customLong("resend-after-server-error"),
        help: "Resend a submission answered with a 5xx (Legnext may have created it: risks paying twice)."
    )
    var resendAfterServerError = false
    @Option(name: .customLong("api-key-file"), help: "File holding the Legnext API key.") var apiKeyFile: String?
    @Option(
        name: .customLong("base-url"),
        help: "Legnext API base URL (default: $LEGNEXT_BASE_URL, else \(LegnextClientConfiguration.defaultBaseURL))."
    )
    var baseURL: String?
    @Option(
        name: .customLong("callback-listen"),
        help: "Receive Legnext's callbacks on HOST:PORT (port 0 picks one); each job is then confirmed the moment it changes."
    )
    var callbackListen: String?
    @Option(
        name: .customLong("callback-url"),
        help: "The public base URL that reaches --callback-listen (default: http://HOST:PORT of --callback-listen)."
    )
    var callbackURL: String?
    @Option(name: .customLong("metrics-listen"), help: "Serve Prometheus metrics at http://HOST:PORT/metrics.")
    var metricsListen: String?
    @Flag(help: "Run against the built-in Legnext simulator on loopback; no key needed.") var simulate = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    public init() {}

    public func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must be 0 (unlimited) or more") }
        if let burst, burst < 1 { throw ValidationError("--burst must be at least 1") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard pollBudget >= 1 else { throw ValidationError("--poll-budget must be at least 1") }
        for (name, value) in [("--give-up-after", giveUpAfter), ("--no-progress-timeout", noProgressTimeout), ("--grace-period", gracePeriod)] {
            guard TimeSpec.duration(value) != nil else { throw ValidationError("\(name) must be a duration like 90s, 10m or 1h") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if simulate, baseURL != nil { throw ValidationError("--simulate and --base-url do not go together") }
        if let callbackURL {
            guard callbackListen != nil else { throw ValidationError("--callback-url needs --callback-listen (where the callbacks arrive)") }
            guard callbackURL.hasPrefix("http://") || callbackURL.hasPrefix("https://") else {
                throw ValidationError("--callback-url must start with http:// or https://")
            }
        }
        if let metricsListen, Self.hostAndPort(metricsListen) == nil {
            throw ValidationError("--metrics-listen must be HOST:PORT, e.g. 127.0.0.1:9464")
        }
        if let callbackListen {
            guard let settings = Self.callbackSettings(callbackListen, publicURL: callbackURL) else {
                throw ValidationError("--callback-listen must be HOST:PORT, e.g. 127.0.0.1:8787 or [::1]:8787")
            }
            if callbackURL == nil, ["0.0.0.0", "::"].contains(settings.host) {
                throw ValidationError(
                    "--callback-listen \(callbackListen) listens on every address: give --callback-url, the address Legnext should use"
                )
            }
        }
    }

    public func run() async throws {
        try await reportingErrors {
            ConsoleLogHandler.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
            let logger = Logger(label: "legnext-queue")
            let store = try global.openCreating()
            let lock = try DaemonLock.acquire(path: store.path, holderPid: { store.daemonPid() })
            defer { withExtendedLifetime(lock) {} }

            var engine = EngineConfiguration()
            engine.concurrency = concurrency
            engine.rate = rate
            engine.burst = burst ?? max(1, Int(rate.rounded(.up)))
            engine.maxAttempts = maxAttempts
            engine.giveUpAfter = TimeSpec.duration(giveUpAfter)!
            engine.noProgressTimeout = TimeSpec.duration(noProgressTimeout)!
            engine.gracePeriod = TimeSpec.duration(gracePeriod)!
            engine.pollBudget = pollBudget
            engine.exitWhenIdle = exitWhenIdle
            engine.resendAfterServerError = resendAfterServerError

            let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
            // Children (the --on-finish commands to come) must not talk to systemd as us.
            unsetenv("NOTIFY_SOCKET")
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let key: APIKey
            let base: @Sendable () async -> String
            if simulate {
                let simulator = LegnextSimulator(configuration: Self.demoSimulator, logger: Logger(label: "legnext-sim"))
                services.append(.init(service: simulator))
                key = APIKey(Self.demoSimulator.apiKey)!
                base = { await simulator.baseURL() }
                logger.info(
                    "--simulate: using the built-in Legnext simulator (jobs take about \(Int(Self.demoSimulator.durationMedian))s; nothing reaches Legnext)"
                )
            } else {
                key = try APIKeySource.load(file: apiKeyFile)
                let url = baseURL ?? ProcessInfo.processInfo.environment["LEGNEXT_BASE_URL"] ?? LegnextClientConfiguration.defaultBaseURL
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw CLIError.usage("--base-url must start with http:// or https://")
                }
                base = { url }
            }
            let daemon = DaemonService(
                store: store,
                key: key,
                baseURL: base,
                engineConfiguration: engine,
                logger: logger,
                progressInterval: 3,
                onStatus: nil,
                notifier: notifier,
                callbacks: callbackListen.flatMap { Self.callbackSettings($0, publicURL: callbackURL) },
                metrics: metricsListen.flatMap(Self.hostAndPort).map {
                    MetricsSettings(host: $0.host, port: $0.port, registry: MetricsEndpoint.bootstrap())
                }
            )
            // Shut down in reverse order: the daemon stops before the simulator it talks to.
            services.append(.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup))
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
            )
            do {
                try await group.run()
            } catch let error as ListenError {
                throw CLIError("\(error); choose another address", exitCode: CLIError.config)
            }
            if exitWhenIdle || simulate {
                Self.printSummary(store)
            }
        }
    }

    /// `HOST:PORT` or `[IPv6]:PORT`.
    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    static func callbackSettings(_ listen: String, publicURL: String?) -> CallbackSettings? {
        hostAndPort(listen).map { CallbackSettings(host: $0.host, port: $0.port, publicURL: publicURL) }
    }

    /// The simulator `--simulate` starts: realistic, but quick enough to watch.
    static var demoSimulator: SimulatorConfiguration {
        var config = SimulatorConfiguration()
        config.apiKey = "sim-key"
        config.durationMedian = 3
        config.durationSpread = 0.3
        config.failRate = 0.05
        config.rateLimit = 10
        config.seed = UInt64(Date().timeIntervalSince1970)
        return config
    }

    static func printSummary(_ store: QueueStore) {
        guard let status = try? store.status() else { return }
        let path = store.path
        var text = "\nqueue \(path): "
        let counts = JobState.allCases.compactMap { state in (status.counts[state] ?? 0) > 0 ? "\(status.counts[state]!) \(state.rawValue)" : nil }
        text += counts.isEmpty ? "empty" : counts.joined(separator: ", ")
        text += "\nresults:  legnext-queue --db \(path) list --state completed"
        text += "\n          legnext-queue --db \(path) show ID"
        text += "\n          sqlite3 \(path) 'SELECT job_id, tag, kind, idx, url FROM outputs'\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
