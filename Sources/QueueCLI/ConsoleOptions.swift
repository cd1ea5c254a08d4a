import ArgumentParser
import Foundation
import QueueConsole

/// The web console's options, shared by `ui` and `run --ui-listen`.
struct ConsoleOptions: ParsableArguments {
    @Option(
        name: .customLong("ui-token-file"),
        help: "File holding the token every request to the console must carry (required off loopback)."
    ) var tokenFile: String?

    static let credentialName = "legnext-ui-token"

    /// The console's configuration for `listen` (HOST:PORT); `outputs` is where files are served from.
    func configuration(
        listen: String,
        option: String,
        outputs: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws -> ConsoleConfiguration
    {
        guard let (host, port) = RunCommand.hostAndPort(listen) else {
            throw CLIError.usage("\(option) must be HOST:PORT, e.g. 127.0.0.1:8080")
        }
        var file = tokenFile
        if file == nil, let directory = environment["CREDENTIALS_DIRECTORY"] {
            let path = (directory as NSString).appendingPathComponent(Self.credentialName)
            if FileManager.default.fileExists(atPath: path) { file = path }
        }
        let token = try file.map(Self.readToken)
        if token == nil, !ConsoleConfiguration.isLoopback(host) {
            throw CLIError(
                "\(option) \(listen) is reachable from other machines: give --ui-token-file FILE (a secret of 16 characters or more, e.g. `head -c 24 /dev/urandom | base64 > FILE`), or listen on 127.0.0.1",
                exitCode: CLIError.config
            )
        }
        return ConsoleConfiguration(host: host, port: port, token: token, outputDirectory: outputs)
    }

    static func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read the console token file \(path)", exitCode: CLIError.noInput)
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, !token.contains(where: \.isNewline) else {
            throw CLIError.bad(
                "the console token in \(path) must be one line of at least 16 characters (it has \(token.count)); e.g. `head -c 24 /dev/urandom | base64 > \(path)`"
            )
        }
        return token
    }
}
