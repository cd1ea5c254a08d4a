import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport

/// The real `legnext-queue` binary on a queue file in a temporary folder.
struct CLIFixture {
    let dir: TemporaryDirectory
    let db: String
    static let binary = Subprocess.binary("legnext-queue")
    static let simulator = Subprocess.binary("legnext-sim")

    init() throws {
        dir = try TemporaryDirectory("cli")
        db = dir.file("queue.db")
    }

    /// Runs `legnext-queue --db <db> arguments…`.
    @discardableResult
    func run(_ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> CommandResult {
        try Subprocess.run(Self.binary, ["--db", db] + arguments, input: input, environment: environment)
    }

    func json(_ arguments: [String]) throws -> JSONValue {
        let result = try run(arguments + ["--json"])
        guard result.status == 0 else { throw CLITestError("\(arguments) exited \(result.status): \(result.stderr)") }
        return try JSONValue(data: Data(result.stdout.utf8))
    }

    /// One statement through the `sqlite3` shell, its output trimmed.
    func sqlite(_ sql: String) throws -> String {
        try Subprocess.run(Subprocess.sqlite3!, [db, sql]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func count(_ state: String) throws -> Int {
        try json(["status"])["counts"]?[state]?.intValue ?? -1
    }
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `legnext-sim` as its own process, so the daemon can be killed without it.
final class SimulatorProcess: @unchecked Sendable {
    let process: RunningProcess
    let baseURL: String

    init(_ arguments: [String] = []) throws {
        let process = try RunningProcess(CLIFixture.simulator, ["--port", "0"] + arguments)
        self.process = process
        var url: String?
        _ = eventually(timeout: 20) {
            guard let line = process.output.split(separator: "\n").first(where: { $0.contains("listening on") }) else { return false }
            url = line.split(separator: " ").last.map(String.init)
            return true
        }
        guard let url else {
            process.signal(SIGKILL)
            throw CLITestError("legnext-sim did not start: \(process.errors)")
        }
        baseURL = url
    }

    func stats() async throws -> JSONValue { try await simulatorStats(baseURL) }

    func stop() {
        process.signal(SIGTERM)
        process.wait(timeout: 10)
    }
}
