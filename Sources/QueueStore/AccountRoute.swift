import Foundation

/// Which queued jobs one account may take: the unpinned ones, those pinned to it, and the
/// follow-ups of jobs it made (a Legnext job id belongs to the account that made it). A job
/// pinned, or whose parent was made, on an account the daemon does not run is taken too, and
/// failed at its claim with the reason: otherwise it would wait for ever.
public struct AccountRoute: Sendable, Hashable {
    /// This account's name.
    public var name: String
    /// Every account the daemon runs, in the order given.
    public var all: [String]

    public init(name: String, all: [String]) {
        precondition(all.contains(name), "an account route names one of its accounts")
        self.name = name
        self.all = all
    }

    /// The one account of a daemon run with one key and no names.
    public static let defaultName = "default"
    public static let single = AccountRoute(name: defaultName, all: [defaultName])

    /// The account a job sent with `remoteAccount` belongs to: a job sent before accounts were
    /// recorded (NULL) was sent with the one key of those days, the account `default`.
    public func owner(_ remoteAccount: String?) -> String { remoteAccount ?? Self.defaultName }

    /// Whether this account follows a job sent with `remoteAccount`.
    public func owns(_ remoteAccount: String?) -> Bool { owner(remoteAccount) == name }

    /// Why a claimed job cannot be sent with this account, or nil when it can: `pin` is the
    /// job's `account`, `parentAccount` its completed parent's `remote_account` (nil: no parent).
    public func refusal(id: Int64, pin: String?, parentId: Int64?, parentAccount: String??) -> String? {
        let running = all.joined(separator: ", ")
        if let pin, pin != name {
            return
                "pinned to account \(pin), which the daemon does not run (it runs \(running)): start it with --account \(pin), or unpin the job (UPDATE jobs SET account = NULL WHERE id = \(id)), then `legnext-queue retry \(id)`"
        }
        if let parentId, let parentAccount {
            let made = owner(parentAccount)
            guard made != name else { return nil }
            if pin == name {
                return
                    "pinned to account \(name), but its parent job \(parentId) was made on account \(made), and a Legnext job id belongs to the account that made it: pin it to \(made) or unpin it, then `legnext-queue retry \(id)`"
            }
            return
                "its parent job \(parentId) was made on account \(made), which the daemon does not run (it runs \(running)), and only that account can act on it: start the daemon with --account \(made), then `legnext-queue retry \(id)`"
        }
        return nil
    }

    /// A valid account name: 1–32 of a–z, 0–9, `-`, `_`, starting with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        guard (1...32).contains(name.utf8.count), let first = name.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "_") else {
            return false
        }
        return name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }
}
