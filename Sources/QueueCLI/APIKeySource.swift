import Foundation
import LegnextAPI

/// Where the API key comes from. Never a command-line value: those show in `ps` and shell history.
enum APIKeySource {
    static let credentialName = "legnext-api-key"

    /// `--api-key-file`, else `LEGNEXT_API_KEY`, else `$CREDENTIALS_DIRECTORY/legnext-api-key`
    /// (systemd's `LoadCredential=`).
    static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKey {
        try load(
            file: file,
            variable: "LEGNEXT_API_KEY",
            credential: credentialName,
            fileOption: "--api-key-file",
            missing:
                "no Legnext API key: set LEGNEXT_API_KEY, pass --api-key-file FILE, or (under systemd) LoadCredential=\(credentialName):FILE; to try it without a key, use --simulate",
            environment: environment
        )
    }

    /// `file`, else the environment `variable`, else the systemd `credential`; `missing` is the
    /// error when there is none.
    static func load(
        file: String?,
        variable: String,
        credential: String,
        fileOption: String,
        missing: String,
        environment: [String: String]
    ) throws -> APIKey {
        if let file {
            return try read(file, what: fileOption)
        }
        if let value = environment[variable] {
            guard let key = APIKey(value) else { throw CLIError("\(variable) is empty or spans several lines", exitCode: CLIError.config) }
            return key
        }
        if let directory = environment["CREDENTIALS_DIRECTORY"] {
            let path = (directory as NSString).appendingPathComponent(credential)
            if FileManager.default.fileExists(atPath: path) { return try read(path, what: "the systemd credential") }
        }
        throw CLIError(missing, exitCode: CLIError.config)
    }

    private static func read(_ path: String, what: String) throws -> APIKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read \(what) \(path)", exitCode: CLIError.noInput)
        }
        guard let key = APIKey(String(decoding: data, as: UTF8.self)) else {
            throw CLIError.bad("\(what) \(path) is empty or holds more than one line")
        }
        return key
    }
}
