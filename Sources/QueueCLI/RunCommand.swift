import ArgumentParser
import AsyncHTTPClient
import Foundation
import LegnextAPI
import LegnextSimulator
import Logging
import QueueConsole
import QueueEngine
import QueueHTTP
import QueueOutputs
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

    @Option(
        help:
            "Remote jobs in flight at most (default: the plan's limit, from GET /account/active_tasks or --plan-concurrency, and a lead of a few waiting in Legnext's queue; else 4)."
    )
    var concurrency: Int?
    @Option(
        name: .customLong("plan-concurrency"),
        help:
            "Jobs your Legnext plan runs at once, where GET /account/active_tasks cannot tell: that many are kept running and a few more waiting in Legnext's own queue."
    )
    var planConcurrency: Int?
    @Option(help: "Requests per second to Legnext (submissions, polls and balance checks together); 0 = unlimited.") var rate = 2.0
    @Option(help: "Requests that may go at once after a quiet spell (default: the rate, at least 1).") var burst: Int?
    @Option(name: .customLong("max-attempts"), help: "Submissions tried per job when the request provably did not reach Legnext.")
    var maxAttempts = 5
    @Option(
        name: .customLong("give-up-after"),
        help: "Stop waiting on a job unfinished this long after submission (e.g. 30m): it frees its slot and is asked about every 5 minutes."
    )
    var giveUpAfter = "30m"
    @Option(
        name: .customLong("no-progress-timeout"),
        help: "The same for a job whose Legnext status has not changed for this long (pending at Legnext does not count)."
    )
    var noProgressTimeout = "10m"
    @Option(
        name: .customLong("poll-budget"),
        help:
            "At most this many status requests per job on average, where each job is polled on its own (default: no cap; polls and the submissions refilling the slots use two thirds of --rate, placed where they cut the most lag). With callbacks or the list of running jobs, the average the safety-net polls aim at (default 2)."
    )
    var pollBudget: Double?
    @Option(
        name: .customLong("balance-check-interval"),
        help:
            "While paused for the key or for credit, the first balance check comes after about this long; each later one waits twice as long, up to 5 minutes."
    )
    var balanceCheckInterval = "5s"
    @Option(name: .customLong("grace-period"), help: "On SIGTERM, time for requests under way to finish.") var gracePeriod = "20s"
    @Flag(name: .customLong("exit-when-idle"), help: "Exit once nothing is queued or in flight.") var exitWhenIdle = false
    @Flag(
        name: .customLong("resend-after-server-error"),
        help: "Resend a submission answered with a 5xx (Legnext may have created it: risks paying twice)."
    )
    var resendAfterServerError = false
    @Flag(
        name: .customLong("no-auto-settle"),
        help: "Leave an uncertain job (its submission's answer lost) to a person, instead of looking for it among Legnext's running jobs."
    )
    var noAutoSettle = false
    @Option(name: .customLong("api-key-file"), help: "File holding the Legnext API key.") var apiKeyFile: String?
    @Option(
        name: .customLong("account"),
        help: ArgumentHelp(
            "A Legnext account to send with, repeated for a pool: NAME[,key-file=PATH][,concurrency=N][,plan-concurrency=N][,rate=R][,burst=N][,priority=P].",
            discussion:
                "Each account has its own plan, rate limit, pause and credit; a new job goes to one with room (the highest priority first), a follow-up to its parent's account, a pinned job (enqueue --account) to its own. Its key: key-file=, else $LEGNEXT_API_KEY_<NAME>, else the systemd credential legnext-api-key-<NAME>. --concurrency, --plan-concurrency, --rate and --burst are the defaults of every account."
        )
    )
    var accounts: [String] = []
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
    @Option(
        name: .customLong("callback-secret-file"),
        help: ArgumentHelp(
            "File holding the account's webhook secret: callbacks must then carry a valid X-Legnext-Signature (default: $CREDENTIALS_DIRECTORY/legnext-webhook-secret).",
            discussion: "Unsigned or wrongly signed callbacks are refused (401) and logged."
        )
    )
    var callbackSecretFile: String?
    @Option(
        name: .customLong("callback-safety-poll"),
        help:
            "With --callback-listen, a job of a kind whose durations are not learnt yet is still asked about this long after it was sent, and as long again each time, in case its callback is lost."
    )
    var callbackSafetyPoll = "30s"
    @Option(name: .customLong("ui-listen"), help: "Serve the web console at http://HOST:PORT/ (see `ui`).") var uiListen: String?
    @OptionGroup var console: ConsoleOptions
    @Option(name: .customLong("metrics-listen"), help: "Serve Prometheus metrics at http://HOST:PORT/metrics.")
    var metricsListen: String?
    @Option(
        name: .customLong("output-dir"),
        help: "Download every output image and video to DIR/<job id>/ (default under systemd: $STATE_DIRECTORY/outputs)."
    )
    var outputDir: String?
    @Flag(name: .customLong("no-downloads"), help: "Do not download outputs, even under systemd.") var noDownloads = false
    @Option(
        name: .customLong("download-hosts"),
        help: "Hosts outputs may be downloaded from, comma-separated; *.example.com for subdomains (default: *.legnext.ai,cdn.midjourney.com)."
    )
    var downloadHosts: String?
    @Option(name: .customLong("download-concurrency"), help: "Downloads at once.") var downloadConcurrency = 2
    @Option(name: .customLong("download-max-bytes"), help: "Largest output accepted, e.g. 100M.") var downloadMaxBytes = "100M"
    @Option(
        name: .customLong("download-stall-timeout"),
        help: "Give up on a download attempt (and retry it later) when no bytes arrive for this long."
    )
    var downloadStallTimeout = "30s"
    @Option(name: .customLong("notify-url"), help: "POST each finished job (signed JSON) to this URL; delivered at least once.")
    var notifyURL: String?
    @Option(
        name: .customLong("notify-secret-file"),
        help: "File holding the HMAC-SHA256 key that signs --notify-url posts (default: $CREDENTIALS_DIRECTORY/legnext-notify-secret)."
    )
    var notifySecretFile: String?
    @Option(name: .customLong("notify-give-up"), help: "Stop retrying a notification this long after the job ended.") var notifyGiveUp = "24h"
    @Option(
        name: .customLong("on-finish"),
        help: "Run this command (via /bin/sh -c) when a job ends; job data in LNQ_* environment variables."
    )
    var onFinish: String?
    @Option(name: .customLong("on-finish-timeout"), help: "Kill --on-finish after this long.") var onFinishTimeout = "60s"
    @Flag(help: "Run against the built-in Legnext simulator on loopback; no key needed.") var simulate = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    public init() {}

    public func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let planConcurrency, planConcurrency < 1 { throw ValidationError("--plan-concurrency must be at least 1") }
        if concurrency != nil, planConcurrency != nil {
            throw ValidationError(
                "give --concurrency (the jobs in flight, exactly) or --plan-concurrency (your plan's limit; a lead waiting in Legnext's queue is added), not both"
            )
        }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must be 0 (unlimited) or more") }
        if let burst, burst < 1 { throw ValidationError("--burst must be at least 1") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        if let pollBudget, !(pollBudget >= 1 && pollBudget.isFinite) { throw ValidationError("--poll-budget must be at least 1") }
        for (name, value) in [
            ("--give-up-after", giveUpAfter), ("--no-progress-timeout", noProgressTimeout), ("--grace-period", gracePeriod),
            ("--balance-check-interval", balanceCheckInterval),
        ] {
            guard TimeSpec.duration(value) != nil else { throw ValidationError("\(name) must be a duration like 90s, 10m or 1h") }
        }
        // Shorter would turn a paused daemon's checks, or the callbacks' safety net, into polling.
        for (name, value) in [("--balance-check-interval", balanceCheckInterval), ("--callback-safety-poll", callbackSafetyPoll)] {
            if let seconds = TimeSpec.duration(value), seconds < 1 { throw ValidationError("\(name) must be at least 1s") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if simulate, baseURL != nil { throw ValidationError("--simulate and --base-url do not go together") }
        var names = Set<String>()
        var variables = Set<String>()
        for text in accounts {
            let account: AccountOption
            do {
                account = try AccountOption(parsing: text)
            } catch {
                throw ValidationError(error.description)
            }
            guard names.insert(account.name).inserted else { throw ValidationError("--account \(account.name) is given twice") }
            let variable = AccountOption.environmentSuffix(account.name)
            guard variables.insert(variable).inserted else {
                throw ValidationError(
                    "--account \(account.name) and another account read the same LEGNEXT_API_KEY_\(variable): name them apart by more than - and _"
                )
            }
            if account.keyFile != nil, simulate {
                throw ValidationError("--simulate makes its own keys: --account \(account.name) takes no key-file with it")
            }
        }
        if !accounts.isEmpty, apiKeyFile != nil {
            throw ValidationError("--api-key-file goes with a single key; with --account, give each account its own: --account NAME,key-file=PATH")
        }
        if let callbackURL {
            guard callbackListen != nil else { throw ValidationError("--callback-url needs --callback-listen (where the callbacks arrive)") }
            guard callbackURL.hasPrefix("http://") || callbackURL.hasPrefix("https://") else {
                throw ValidationError("--callback-url must start with http:// or https://")
            }
        }
        guard Self.bytes(downloadMaxBytes) != nil else { throw ValidationError("--download-max-bytes must be a size like 5000000, 500K, 100M or 1G") }
        guard downloadConcurrency >= 1 else { throw ValidationError("--download-concurrency must be at least 1") }
        for (name, value) in [
            ("--notify-give-up", notifyGiveUp), ("--on-finish-timeout", onFinishTimeout), ("--download-stall-timeout", downloadStallTimeout),
            ("--callback-safety-poll", callbackSafetyPoll),
        ] where TimeSpec.duration(value) == nil {
            throw ValidationError("\(name) must be a duration like 90s, 10m or 24h")
        }
        if let notifyURL {
            guard notifyURL.hasPrefix("http://") || notifyURL.hasPrefix("https://") else {
                throw ValidationError("--notify-url must start with http:// or https://")
            }
            guard notifySecretFile != nil || Self.credential("legnext-notify-secret") != nil else {
                throw ValidationError(
                    "--notify-url needs --notify-secret-file (or the systemd credential legnext-notify-secret): the key that signs each post, so receivers can tell ours from forgeries"
                )
            }
        } else if notifySecretFile != nil {
            throw ValidationError("--notify-secret-file goes with --notify-url")
        }
        if callbackSecretFile != nil, callbackListen == nil {
            throw ValidationError("--callback-secret-file goes with --callback-listen (where the signed callbacks arrive)")
        }
        if noDownloads, outputDir != nil { throw ValidationError("--no-downloads and --output-dir do not go together") }
        if let metricsListen, Self.hostAndPort(metricsListen) == nil {
            throw ValidationError("--metrics-listen must be HOST:PORT, e.g. 127.0.0.1:9464")
        }
        if let uiListen, Self.hostAndPort(uiListen) == nil {
            throw ValidationError("--ui-listen must be HOST:PORT, e.g. 127.0.0.1:8080")
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
            try store.claimDaemon(pid: getpid(), hostname: ProcessInfo.processInfo.hostName, now: Date(), isDaemon: Self.isDaemonProcess)

            var engine = EngineConfiguration()
            engine.maxAttempts = maxAttempts
            engine.giveUpAfter = TimeSpec.duration(giveUpAfter)!
            engine.noProgressTimeout = TimeSpec.duration(noProgressTimeout)!
            engine.gracePeriod = TimeSpec.duration(gracePeriod)!
            engine.balanceChecks.base = min(TimeSpec.duration(balanceCheckInterval)!, engine.balanceChecks.cap)
            engine.pollBudget = pollBudget
            engine.callbackSafetyInterval = TimeSpec.duration(callbackSafetyPoll)!
            engine.exitWhenIdle = exitWhenIdle
            engine.resendAfterServerError = resendAfterServerError
            engine.autoSettle = !noAutoSettle

            let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
            // Children (the --on-finish commands to come) must not talk to systemd as us.
            unsetenv("NOTIFY_SOCKET")
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let key: APIKey
            let base: @Sendable () async -> String
            let options = accounts.compactMap { try? AccountOption(parsing: $0) }
            var setups: [EngineService.AccountSetup] = []
            func setup(_ option: AccountOption?, key: APIKey, reload: (@Sendable () -> APIKey?)?) -> EngineService.AccountSetup {
                let rate = option?.rate ?? self.rate
                return EngineService.AccountSetup(
                    name: option?.name ?? AccountRoute.defaultName,
                    key: key,
                    reloadKey: reload,
                    concurrency: option?.concurrency ?? (option?.planConcurrency == nil ? concurrency : nil),
                    planConcurrency: option?.planConcurrency ?? (option?.concurrency == nil ? planConcurrency : nil),
                    rate: rate,
                    burst: option?.burst ?? burst ?? max(1, Int(rate.rounded(.up))),
                    priority: option?.priority ?? 0,
                    named: option != nil
                )
            }
            if simulate {
                var simulation = Self.demoSimulator
                simulation.otherAccounts = options.dropFirst().map {
                    .init(
                        name: $0.name,
                        apiKey: "sim-key-\($0.name)",
                        credits: simulation.credits,
                        concurrency: simulation.concurrency,
                        rateLimit: simulation.rateLimit
                    )
                }
                let simulator = LegnextSimulator(configuration: simulation, logger: Logger(label: "legnext-sim"))
                services.append(.init(service: simulator))
                key = APIKey(simulation.apiKey)!
                for (index, option) in options.enumerated() {
                    setups.append(setup(option, key: index == 0 ? key : APIKey("sim-key-\(option.name)")!, reload: nil))
                }
                base = { await simulator.baseURL() }
                logger.info(
                    "--simulate: using the built-in Legnext simulator (jobs take about \(Int(simulation.durationMedian))s; nothing reaches Legnext)"
                )
            } else {
                if options.isEmpty {
                    key = try APIKeySource.load(file: apiKeyFile)
                } else {
                    var keys: [APIKey: String] = [:]
                    for option in options {
                        let own = try option.loadKey()
                        // Two engines on one Legnext account would each count its plan as their own.
                        if let other = keys.updateValue(option.name, forKey: own) {
                            throw CLIError(
                                "--account \(other) and --account \(option.name) have the same key: one Legnext account, one --account",
                                exitCode: CLIError.config
                            )
                        }
                        // A key refused by Legnext is read again before each balance probe.
                        setups.append(setup(option, key: own, reload: { try? option.loadKey() }))
                    }
                    key = setups[0].key
                }
                // A key refused by Legnext is read again before each balance probe: fixing the
                // file (or the credential) resumes the daemon. An unreadable file keeps the old key.
                engine.reloadKey = { [apiKeyFile] in try? APIKeySource.load(file: apiKeyFile) }
                let url = baseURL ?? ProcessInfo.processInfo.environment["LEGNEXT_BASE_URL"] ?? LegnextClientConfiguration.defaultBaseURL
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw CLIError.usage("--base-url must start with http:// or https://")
                }
                base = { url }
            }
            if setups.isEmpty { setups = [setup(nil, key: key, reload: engine.reloadKey)] }
            let outputs = try outputSettings(store: store)
            engine.downloadOutputs = outputs.downloads != nil
            engine.notifyChannels = outputs.channels
            let diskAlarm = DiskAlarm()
            // Started in this order and stopped in reverse: the listeners, the downloader and
            // the outboxes outlive the engine, which stops before the simulator it talks to.
            // A listener that cannot listen stops the others gracefully (no job is taken), and
            // the group then throws why.
            var wakes: [@Sendable () -> Void] = []
            var listeners: [@Sendable () async -> Int?] = []
            if let metrics = metricsListen.flatMap(Self.hostAndPort) {
                let endpoint = MetricsEndpoint(
                    registry: MetricsEndpoint.bootstrap(),
                    store: store,
                    host: metrics.host,
                    port: metrics.port,
                    logger: logger
                )
                services.append(.init(service: endpoint, failureTerminationBehavior: .gracefullyShutdownGroup))
                listeners.append { await endpoint.port() }
            }
            if let uiListen {
                let directory = outputs.downloads?.directory ?? UICommand.outputDirectory(outputDir, store: store)
                var configuration = try console.configuration(listen: uiListen, option: "--ui-listen", outputs: directory)
                configuration.balance = BalanceReader(baseURL: base, key: key, logger: logger)
                let server = try ConsoleServer(store: store, configuration: configuration, logger: logger)
                services.append(.init(service: server, failureTerminationBehavior: .gracefullyShutdownGroup))
                listeners.append { await server.port() }
            }
            var callbacks: (receiver: CallbackReceiver, settings: CallbackSettings)?
            if let listen = callbackListen, var settings = Self.callbackSettings(listen, publicURL: callbackURL) {
                settings.signingSecret = try callbackSecret()
                let receiver = CallbackReceiver(
                    store: store,
                    host: settings.host,
                    port: settings.port,
                    signingSecret: settings.signingSecret,
                    logger: logger
                )
                services.append(.init(service: receiver, failureTerminationBehavior: .gracefullyShutdownGroup))
                callbacks = (receiver, settings)
            }
            if let configuration = outputs.downloads {
                let downloader = OutputDownloader(store: store, configuration: configuration, diskAlarm: diskAlarm, logger: logger)
                services.append(.init(service: downloader))
                wakes.append { downloader.wake() }
            }
            if let url = outputs.notifyURL, let secret = outputs.notifySecret {
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
                services.append(.init(service: HTTPClientOwner(client: client)))
                let webhook = WebhookNotifier(url: url, secret: secret, client: client)
                let outbox = NotificationOutbox(store: store, channel: .webhook, configuration: outputs.outbox, logger: logger) {
                    await webhook.deliver($0, $1)
                }
                services.append(.init(service: outbox))
                wakes.append { outbox.wake() }
            }
            if let command = outputs.onFinish {
                let runner = FinishCommand(command: command, timeout: outputs.onFinishTimeout, databasePath: store.path)
                let outbox = NotificationOutbox(store: store, channel: .command, configuration: outputs.outbox, logger: logger) {
                    await runner.deliver($0, $1)
                }
                services.append(.init(service: outbox))
                wakes.append { outbox.wake() }
            }
            let wakeAll = wakes
            let daemon = EngineService(
                store: store,
                accounts: setups,
                baseURL: base,
                configuration: engine,
                logger: logger,
                diskAlarm: diskAlarm,
                notifier: notifier,
                callbacks: callbacks,
                listeners: listeners,
                wake: { for wake in wakeAll { wake() } },
                hasOutbox: outputs.downloads != nil || !outputs.channels.isEmpty
            )
            // The daemon ends with the engine (`--exit-when-idle`, or a fatal error).
            services.append(.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup))
            services.append(.init(service: ProgressReporter(store: store, interval: 3, logger: logger, notifier: notifier, diskAlarm: diskAlarm)))
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
            )
            do {
                try await group.run()
            } catch let error as ListenError {
                throw CLIError("\(error); choose another address", exitCode: CLIError.config)
            }
            if exitWhenIdle || simulate {
                Self.printSummary(store, outputDirectory: outputs.downloads?.directory)
            }
        }
    }

    /// Downloads, notify URL and finish command, from the options and the environment.
    func outputSettings(store: QueueStore, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OutputSettings {
        var settings = OutputSettings()
        var directory = outputDir
        if directory == nil, !noDownloads {
            if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first {
                directory = String(state) + "/outputs"
            } else if simulate {
                directory = ((store.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("outputs")
            }
        }
        if var directory {
            if !directory.hasPrefix("/") {
                directory = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory)
            }
            directory = (directory as NSString).standardizingPath
            var hosts =
                downloadHosts.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? OutputDownloader.defaultHosts
            if simulate { hosts.append("127.0.0.1") }
            var downloads = OutputDownloader.Configuration(directory: directory, allowedHosts: hosts)
            downloads.concurrency = downloadConcurrency
            downloads.maxBytes = Self.bytes(downloadMaxBytes)!
            downloads.stallTimeout = TimeSpec.duration(downloadStallTimeout)!
            settings.downloads = downloads
        }
        if let notifyURL, let notifySecretFile = notifySecretFile ?? Self.credential("legnext-notify-secret", environment) {
            settings.notifyURL = notifyURL
            settings.notifySecret = try Self.secret(notifySecretFile, option: "--notify-secret-file")
        }
        settings.onFinish = onFinish
        settings.onFinishTimeout = TimeSpec.duration(onFinishTimeout)!
        settings.outbox.giveUpAfter = TimeSpec.duration(notifyGiveUp)!
        return settings
    }

    /// The webhook secret of the account, when callbacks are to be signed.
    func callbackSecret(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Data? {
        guard let file = callbackSecretFile ?? Self.credential("legnext-webhook-secret", environment) else { return nil }
        return try Self.secret(file, option: "--callback-secret-file")
    }

    /// A credential systemd hands over (`LoadCredential=NAME:…`), if any.
    static func credential(_ name: String, _ environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let directory = environment["CREDENTIALS_DIRECTORY"] else { return nil }
        let path = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// A signing key from a file: its text without surrounding white space, at least 16 bytes.
    static func secret(_ file: String, option: String) throws -> Data {
        guard let secret = FileManager.default.contents(atPath: file) else {
            throw CLIError("cannot read \(option) \(file)", exitCode: CLIError.noInput)
        }
        let trimmed = Data(String(decoding: secret, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard trimmed.count >= 16 else {
            throw CLIError("\(option) \(file) holds under 16 bytes: use a long random key", exitCode: CLIError.config)
        }
        return trimmed
    }

    /// `5000`, `500K`, `100M`, `1G` (powers of 1024).
    static func bytes(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let upper = text.uppercased().replacingOccurrences(of: "B", with: "")
        if let last = upper.last, let unit = units[last] { return Int(upper.dropLast()).map { $0 * unit }.flatMap { $0 > 0 ? $0 : nil } }
        return Int(upper).flatMap { $0 > 0 ? $0 : nil }
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
        config.concurrency = 6  // a plan's limit, as Legnext documents it; the daemon learns it
        config.seed = UInt64(Date().timeIntervalSince1970)
        return config
    }

    static func printSummary(_ store: QueueStore, outputDirectory: String?) {
        guard let status = try? store.status() else { return }
        let path = store.path
        var text = "\nqueue \(path): "
        let counts = JobState.allCases.compactMap { state in (status.counts[state] ?? 0) > 0 ? "\(status.counts[state]!) \(state.rawValue)" : nil }
        text += counts.isEmpty ? "empty" : counts.joined(separator: ", ")
        text += "\nresults:  legnext-queue --db \(path) list --state completed"
        text += "\n          legnext-queue --db \(path) show ID"
        text += "\n          sqlite3 \(path) 'SELECT job_id, tag, kind, idx, url, path FROM outputs'\n"
        if let outputDirectory { text += "files:    \(outputDirectory)/<job id>/image-<n>.png\n" }
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether `pid` is a live legnext-queue process (not a pid reused by something else).
    static func isDaemonProcess(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return true }
        return name.hasPrefix("legnext-queue")
    }
}
