import Foundation
import LegnextAPI
import QueueStore

/// One `--account NAME[,key-file=PATH][,concurrency=N][,plan-concurrency=N][,rate=R][,burst=N][,priority=P]`.
/// The key is never on the command line: `key-file=`, else `$LEGNEXT_API_KEY_<NAME>` (upper
/// case, `-` as `_`), else the systemd credential `legnext-api-key-<NAME>`; for the account
/// `default`, else where a daemon without accounts reads its key.
struct AccountOption: Sendable, Hashable {
    var name: String
    var keyFile: String?
    var concurrency: Int?
    var planConcurrency: Int?
    var rate: Double?
    var burst: Int?
    var priority = 0

    /// Parses one option's text; the error says what is wrong and how it should look.
    init(parsing text: String) throws(AccountOptionError) {
        // Errors name the account and the setting, never a value: one might be a key pasted by mistake.
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let name = parts.removeFirst()
        guard AccountRoute.isValidName(name) else {
            throw AccountOptionError(
                "--account: the account's name comes first, 1–32 of a–z, 0–9, - and _ (e.g. --account pro,key-file=/etc/legnext/pro.key)"
            )
        }
        self.name = name
        let option = "--account \(name)"
        var seen = Set<String>()
        for part in parts {
            guard let equals = part.firstIndex(of: "=") else {
                throw AccountOptionError(
                    "\(option): each setting after the name is KEY=VALUE (key-file, concurrency, plan-concurrency, rate, burst, priority)"
                )
            }
            let key = String(part[..<equals])
            let value = String(part[part.index(after: equals)...])
            guard seen.insert(key).inserted else { throw AccountOptionError("\(option): \(Self.shown(key)) is given twice") }
            func count(atLeast low: Int) throws(AccountOptionError) -> Int {
                guard let number = Int(value), number >= low, number <= 100_000 else {
                    throw AccountOptionError("\(option): \(key) must be a whole number from \(low) to 100000")
                }
                return number
            }
            switch key {
            case "key-file":
                guard !value.isEmpty else { throw AccountOptionError("\(option): key-file needs a path") }
                keyFile = value
            case "concurrency": concurrency = try count(atLeast: 1)
            case "plan-concurrency": planConcurrency = try count(atLeast: 1)
            case "burst": burst = try count(atLeast: 1)
            case "rate":
                guard let number = Double(value), number.isFinite, number >= 0, number <= 1e6 else {
                    throw AccountOptionError("\(option): rate must be 0 (unlimited) or a number of requests per second")
                }
                rate = number
            case "priority":
                guard let number = Int(value), abs(number) <= 1_000 else {
                    throw AccountOptionError("\(option): priority must be a whole number from -1000 to 1000")
                }
                priority = number
            case "key", "api-key":
                throw AccountOptionError(
                    "\(option): a key never goes on the command line (ps and shell history show it): use key-file=PATH, $LEGNEXT_API_KEY_\(Self.environmentSuffix(name)) or the systemd credential legnext-api-key-\(name)"
                )
            default:
                throw AccountOptionError(
                    "\(option): unknown setting \(Self.shown(key)) (key-file, concurrency, plan-concurrency, rate, burst, priority)"
                )
            }
        }
        if concurrency != nil, planConcurrency != nil {
            throw AccountOptionError(
                "\(option): give concurrency (jobs in flight, exactly) or plan-concurrency (the plan's limit, plus a lead), not both"
            )
        }
    }

    /// A setting's name as an error may show it: a known word, else not at all.
    static func shown(_ key: String) -> String {
        key.utf8.count <= 20 && key.utf8.allSatisfy { (0x61...0x7A).contains($0) || $0 == 0x2D } ? "\"\(key)\"" : "a setting"
    }

    /// `pro-2` → `PRO_2`.
    static func environmentSuffix(_ name: String) -> String {
        name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// This account's key: its `key-file`, else its environment variable, else its credential.
    func loadKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKey {
        let variable = "LEGNEXT_API_KEY_" + Self.environmentSuffix(name)
        let credential = APIKeySource.credentialName + "-" + name
        // `default` is the one key's account of a daemon run without names: its key where it was.
        if name == AccountRoute.defaultName, keyFile == nil, environment[variable] == nil,
            !FileManager.default.fileExists(atPath: (environment["CREDENTIALS_DIRECTORY"] ?? "/nonexistent") + "/" + credential)
        {
            return try APIKeySource.load(file: nil, environment: environment)
        }
        return try APIKeySource.load(
            file: keyFile,
            variable: variable,
            credential: credential,
            fileOption: "the key-file of --account \(name)",
            missing:
                "no Legnext API key for account \(name): add key-file=PATH to its --account, set \(variable), or (under systemd) LoadCredential=\(credential):FILE",
            environment: environment
        )
    }
}

struct AccountOptionError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
