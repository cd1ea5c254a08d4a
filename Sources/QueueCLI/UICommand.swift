import ArgumentParser
import Foundation
import LegnextAPI
import Logging
import QueueConsole
import QueueHTTP
import QueueStore
import ServiceLifecycle
import UnixSignals

/// `legnext-queue ui`: the web console on its own, daemon running or not.
public struct UICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Serve the web console: the queue, its jobs and a gallery of the images, with actions.",
        discussion: "The same pages as `run --ui-listen`. Reads and writes the queue whether the daemon runs or not."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Option(help: "Address to serve on, HOST:PORT.") var listen = "127.0.0.1:8080"
    @Option(
        name: .customLong("output-dir"),
        help: "Where the daemon saves outputs, served in the gallery (default: $STATE_DIRECTORY/outputs, else outputs/ beside the database)."
    ) var outputDir: String?
    @OptionGroup var console: ConsoleOptions
    @Option(name: .customLong("api-key-file"), help: "The Legnext key, to show the balance (else $LEGNEXT_API_KEY or the systemd credential).")
    var apiKeyFile: String?
    @Option(name: .customLong("base-url"), help: "The Legnext API the balance is read from.") var baseURL: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    public init() {}

    public func run() async throws {
        try await reportingErrors {
            ConsoleLogHandler.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
            let logger = Logger(label: "legnext-queue")
            let store = try global.openExisting()
            var configuration = try console.configuration(listen: listen, option: "--listen", outputs: Self.outputDirectory(outputDir, store: store))
            // The balance is shown only where a key is at hand; the console works without one.
            if let key = apiKeyFile != nil ? try APIKeySource.load(file: apiKeyFile) : try? APIKeySource.load(file: nil) {
                let url = baseURL ?? ProcessInfo.processInfo.environment["LEGNEXT_BASE_URL"] ?? LegnextClientConfiguration.defaultBaseURL
                configuration.balance = BalanceReader(baseURL: { url }, key: key, logger: logger)
            }
            let server = try ConsoleServer(store: store, configuration: configuration, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: server)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    cancellationSignals: [],
                    logger: logger
                )
            )
            do {
                try await group.run()
            } catch let error as ListenError {
                throw CLIError("\(error); choose another address", exitCode: CLIError.config)
            }
        }
    }

    /// `--output-dir` made absolute, else the daemon's default.
    static func outputDirectory(_ given: String?, store: QueueStore, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var directory =
            given ?? environment["STATE_DIRECTORY"]?.split(separator: ":").first.map { String($0) + "/outputs" }
            ?? ((store.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("outputs")
        if !directory.hasPrefix("/") { directory = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory) }
        return (directory as NSString).standardizingPath
    }
}
