import Foundation
import QueueSupport
import QueueTestSupport
import Testing

/// A pool of Legnext accounts (`run --account NAME …`), against a simulator serving two keys,
/// each with its own plan, credit and jobs: the real binary, a real SQLite file, loopback HTTP.
@Suite(.serialized) struct AccountPoolTests {
    /// The simulator's first account is `sim-key`; `b` is the second, `sim-key-b`.
    static func simulator(_ b: String = "concurrency=2", _ extra: [String] = []) throws -> SimulatorProcess {
        try SimulatorProcess(
            ["--concurrency", "2", "--duration-median", "0.3", "--duration-spread", "0.2", "--account", "name=b,key=sim-key-b,\(b)"] + extra
        )
    }

    /// Keys by account, from the environment (never the command line).
    static func environment(b: String = "sim-key-b") -> [String: String] {
        DaemonProcessTests.environment(["LEGNEXT_API_KEY": nil, "LEGNEXT_API_KEY_A": "sim-key", "LEGNEXT_API_KEY_B": b].compactMapValues { $0 })
    }

    static let accounts = ["--account", "a", "--account", "b"]

    static func drain(_ cli: CLIFixture, _ sim: SimulatorProcess, accounts: [String] = accounts) throws -> CommandResult {
        var env = environment()
        env["LEGNEXT_API_KEY"] = nil
        return try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--exit-when-idle", "--log-level", "info"] + accounts,
            environment: env,
            timeout: 90
        )
    }

    /// Jobs sent with each account, from the queue.
    static func byAccount(_ cli: CLIFixture, _ whereClause: String = "1") throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in try cli.sqlite("SELECT coalesce(remote_account, '-') || '|' || count(*) FROM jobs WHERE \(whereClause) GROUP BY remote_account")
            .split(separator: "\n")
        {
            let parts = line.split(separator: "|")
            if parts.count == 2 { counts[String(parts[0])] = Int(parts[1]) }
        }
        return counts
    }

    /// Both accounts drain one batch; each follow-up goes to the account that made its parent
    /// (the simulator knows a job id only under the key that made it: sent with the other key,
    /// the upscale would fail); a pin is honoured; no key reaches the database.
    @Test func twoAccountsShareTheQueueAndFollowUpsGoWithTheirParents() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try Self.simulator()
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<16).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        let first = try Self.drain(cli, sim)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try cli.count("completed") == 16, "\(first.stderr)")
        let shares = try Self.byAccount(cli)
        #expect((shares["a"] ?? 0) > 0 && (shares["b"] ?? 0) > 0 && shares.count == 2, "both accounts took jobs: \(shares)")
        let stats = try await sim.stats()
        #expect(stats.number("jobs_created") == 16 && stats.number("duplicate_submissions") == 0)
        #expect(stats.number("accounts", "b", "jobs_created") == Double(shares["b"] ?? -1), "b's jobs were made with b's key")

        // An upscale of every image job, and one more job pinned to b.
        for parent in 1...16 {
            #expect(try cli.run(["enqueue", "--kind", "upscale", "--parent", "\(parent)", "--param", "imageNo=1", "--param", "type=0"]).status == 0)
        }
        #expect(try cli.run(["enqueue", "--account", "b", "pinned to b"]).status == 0)
        let parentOnA = try cli.sqlite("SELECT min(id) FROM jobs WHERE remote_account = 'a'")
        let against = try cli.run(["enqueue", "--kind", "reroll", "--parent", parentOnA, "--account", "b"])
        #expect(against.status == 65 && against.stderr.contains("was made on account a"), "\(against.stderr)")
        let second = try Self.drain(cli, sim)
        #expect(second.status == 0, "\(second.stderr)")
        let unfinished = try cli.sqlite("SELECT id, error FROM jobs WHERE state <> 'completed'")
        #expect(try cli.count("completed") == 33, "\(second.stderr) \(unfinished)")
        let strays = try cli.sqlite(
            "SELECT count(*) FROM jobs AS j JOIN jobs AS p ON p.id = j.parent_id WHERE j.remote_account IS NOT p.remote_account"
        )
        #expect(strays == "0", "every follow-up went with its parent's account")
        #expect(try cli.sqlite("SELECT remote_account FROM jobs WHERE prompt = 'pinned to b'") == "b")

        // No key in the database file, its WAL or its journal.
        for suffix in ["", "-wal", "-journal"] {
            guard let bytes = FileManager.default.contents(atPath: cli.db + suffix) else { continue }
            #expect(bytes.range(of: Data("sim-key".utf8)) == nil, "no key in \(cli.db + suffix)")
        }
        #expect(!first.stderr.contains("sim-key") && !second.stderr.contains("sim-key"), "no key in the log")
    }

    /// A pin must name an account the daemon was last started with: refused at insert, by the
    /// CLI and by the schema for a `sqlite3` user, before and after a daemon records its accounts.
    @Test func aPinToAnUnknownAccountIsRefusedAtInsert() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let before = try cli.run(["enqueue", "--account", "b", "a red fox"])
        #expect(before.status == 65 && before.stderr.contains("unknown account b") && before.stderr.contains("no daemon"), "\(before.stderr)")
        #expect(try cli.run(["enqueue", "--account", "B!", "a red fox"]).status == 64)
        let shell = try Subprocess.run("/usr/bin/sqlite3", [cli.db, "INSERT INTO jobs(prompt, account) VALUES ('a red fox', 'b')"], timeout: 10)
        #expect(shell.status != 0 && shell.stderr.contains("unknown account"), "\(shell.stderr)")

        let sim = try Self.simulator()
        defer { sim.stop() }
        #expect(try Self.drain(cli, sim).status == 0)
        #expect(try cli.run(["enqueue", "--account", "b", "a red fox"]).status == 0)
        let unknown = try cli.run(["enqueue", "--account", "c", "a red fox"])
        #expect(unknown.status == 65 && unknown.stderr.contains("started with a, b"), "\(unknown.stderr)")
        let moved = try Subprocess.run("/usr/bin/sqlite3", [cli.db, "UPDATE jobs SET account = 'c' WHERE id = 1"], timeout: 10)
        #expect(moved.status != 0 && moved.stderr.contains("unknown account"), "\(moved.stderr)")
        let status = try cli.run(["status"])
        #expect(status.stdout.contains("accounts") && status.stdout.contains("1 queued pinned to it"), "\(status.stdout)")
    }

    /// One account runs out of credit mid-run: it pauses (one 402), and its share of the queue
    /// finishes on the other; nothing fails, nothing is paid twice.
    @Test func anAccountOutOfCreditLeavesTheRestToTheOther() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try Self.simulator("credits=160,concurrency=1")
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<14).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        let result = try Self.drain(cli, sim, accounts: ["--account", "a", "--account", "b,concurrency=1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try cli.count("completed") == 14 && (try cli.count("failed")) == 0, "\(result.stderr)")
        let stats = try await sim.stats()
        let refused = stats.number("requests", "POST /v1/diffusion", "402") ?? 0
        #expect(refused <= 1, "at most the one submission that found the credit gone: \(refused)")
        #expect(stats.number("accounts", "b", "jobs_created") == 2, "b paid for what its credit covered")
        #expect(stats.number("jobs_created") == 14 && stats.number("duplicate_submissions") == 0)
        #expect(result.stderr.contains("account b: submissions paused"), "\(result.stderr)")
        #expect(try Self.byAccount(cli)["b"] == 2)
        let accounts = try cli.json(["status"])["accounts"]?.arrayValue ?? []
        #expect(accounts.first { $0["name"]?.stringValue == "b" }?["credits_used"]?.intValue == 160, "b's points, kept apart: \(accounts)")
        let show = try cli.run(["show", try cli.sqlite("SELECT min(id) FROM jobs WHERE remote_account = 'b'")])
        #expect(show.stdout.contains("account       b"), "\(show.stdout)")
    }

    /// A wrong key on one account pauses that account only: the other drains the queue, and
    /// `status` says which account is paused and why.
    @Test func aWrongKeyPausesOnlyItsAccount() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try Self.simulator()
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<8).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        var env = Self.environment(b: "not-b-key")
        env["LEGNEXT_API_KEY"] = nil
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--log-level", "info"] + Self.accounts,
            environment: env
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 60) { (try? cli.count("completed")) == 8 }, "\(daemon.errors)")
        let status = { (try? cli.run(["status"]).stdout) ?? "" }
        #expect(eventually(timeout: 30) { status().contains("PAUSED") }, "\(status())")
        let text = status()
        #expect(text.contains("Legnext rejects the API key"), "\(text)")
        #expect(text.contains("  b ") && text.contains("PAUSED"), "b's line says it is paused: \(text)")
        #expect(try Self.byAccount(cli, "state = 'completed'") == ["a": 8])
        let json = try cli.json(["status"])
        let accounts = json["accounts"]?.arrayValue ?? []
        #expect(accounts.count == 2)
        #expect(accounts.first { $0["name"]?.stringValue == "b" }?["paused_reason"]?.stringValue?.contains("API key") == true)
        #expect(accounts.first { $0["name"]?.stringValue == "a" }?["paused_reason"] == .null)
        #expect(json["daemon"]?["paused_reason"] == .null, "the daemon still works with a")
        let balance = { (try? cli.json(["status"])["accounts"]?.arrayValue?.first?["balance_points"]?.intValue) ?? nil }
        #expect(eventually(timeout: 30) { balance() != nil }, "a's balance is read with a's key and recorded")
        #expect(!daemon.errors.contains("not-b-key") && !daemon.errors.contains("sim-key"), "no key in the log")
    }

    /// kill -9 during a two-account drain, then a restart: nothing lost, nothing paid twice,
    /// and each job is followed by the account that sent it.
    @Test func killNineDuringATwoAccountDrainLosesNothing() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(
            ["--concurrency", "3", "--duration-median", "1", "--account", "name=b,key=sim-key-b,concurrency=3"]
        )
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<30).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        var env = Self.environment()
        env["LEGNEXT_API_KEY"] = nil
        for round in 0..<3 {
            let daemon = try RunningProcess(
                CLIFixture.binary,
                ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--log-level", "warning"] + Self.accounts,
                environment: env
            )
            let target = 4 * (round + 1)
            #expect(eventually(timeout: 60) { (try? cli.count("completed")) ?? 0 >= target }, "\(daemon.errors)")
            daemon.signal(SIGKILL)
            daemon.wait()
        }
        let result = try Self.drain(cli, sim)
        #expect(result.status == 0, "\(result.stderr)")
        let settled = try cli.sqlite("SELECT count(*) FROM jobs WHERE state IN ('completed', 'uncertain')")
        let others = try cli.sqlite("SELECT id, state, error FROM jobs WHERE state NOT IN ('completed', 'uncertain')")
        #expect(settled == "30", "\(others)")
        let stats = try await sim.stats()
        #expect(stats.number("duplicate_submissions") == 0)
        let held = Double(try cli.sqlite("SELECT count(*) FROM jobs WHERE remote_job_id IS NOT NULL")) ?? -1
        let created = stats.number("jobs_created") ?? 0
        let uncertain = Double(try cli.count("uncertain"))
        #expect(created >= held && created - held <= uncertain, "a remote job no row holds is an uncertain job's")
        #expect(try cli.sqlite("PRAGMA integrity_check") == "ok")
        let shares = try Self.byAccount(cli, "state = 'completed'")
        #expect(
            stats.number("accounts", "b", "jobs_completed") ?? -1 >= Double(shares["b"] ?? 0),
            "b's completions were made with b's key: \(shares)"
        )
    }

    /// `--account` is checked before anything runs; each key comes from its key-file, its
    /// environment variable or its systemd credential, never from the command line.
    @Test func accountOptionsAreCheckedAndKeysComeFromFilesOrCredentials() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        for (arguments, words) in [
            (["--account", "b,key=abc"], "never goes on the command line"),
            (["--account", "a", "--account", "a"], "--account a is given twice"),
            (["--account", "a,concurrency=0"], "concurrency must be a whole number"),
            (["--account", "Pro"], "the account's name comes first"),
            (["--account", "a,speed=2"], "unknown setting \"speed\""),
            (["--account", "pro-2", "--account", "pro_2"], "read the same LEGNEXT_API_KEY_PRO_2"),
            (["--account", "a", "--api-key-file", "/dev/null"], "give each account its own"),
        ] {
            let result = try cli.run(["run", "--exit-when-idle"] + arguments)
            #expect(result.status == 64 && result.stderr.contains(words), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("abc"), "a value given by mistake is never repeated: \(result.stderr)")
        }
        let sim = try Self.simulator()
        defer { sim.stop() }
        var env = DaemonProcessTests.environment(["LEGNEXT_API_KEY_A": "sim-key"])
        env["LEGNEXT_API_KEY"] = nil
        let missing = try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--exit-when-idle"] + Self.accounts,
            environment: env,
            timeout: 30
        )
        #expect(missing.status == 78 && missing.stderr.contains("no Legnext API key for account b"), "\(missing.stderr)")

        // a from a key file, b from a systemd credential.
        let credentials = cli.dir.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try Data("sim-key-b\n".utf8).write(to: URL(fileURLWithPath: credentials + "/legnext-api-key-b"))
        try Data("sim-key\n".utf8).write(to: URL(fileURLWithPath: cli.dir.file("a.key")))
        env["LEGNEXT_API_KEY_A"] = nil
        env["CREDENTIALS_DIRECTORY"] = credentials
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<8).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        let drained = try Subprocess.run(
            CLIFixture.binary,
            [
                "--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--exit-when-idle", "--account",
                "a,key-file=\(cli.dir.file("a.key"))", "--account", "b",
            ],
            environment: env,
            timeout: 60
        )
        let completed = try cli.count("completed")
        #expect(drained.status == 0 && completed == 8, "\(drained.stderr)")
        let stats = try await sim.stats()
        #expect(stats.number("accounts", "b", "jobs_created") ?? 0 > 0 && stats.number("accounts", "default", "jobs_created") ?? 0 > 0)
    }
}
