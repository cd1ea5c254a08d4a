import Foundation
import LegnextAPI
import QueueTestSupport
import Testing

/// Pauses for the account (402, 401) end by themselves, without a flap of refused submissions.
@Suite(.serialized) struct AccountPauseTests {
    static func refusals(_ sim: SimulatorProcess) async throws -> Int {
        Int(try await sim.stats().number("requests", "POST /v1/diffusion", "402") ?? 0)
    }

    /// Out of credit, the daemon resumes only when the balance covers the next job, sends no more
    /// jobs than the balance covers (pausing for a balance check, not for a 402), and so meets
    /// a 402 only where it could not know: the submissions already under way when credit ran out.
    @Test func outOfCreditResumesOnlyForWhatTheBalanceCovers() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--credits", "440", "--duration-median", "0.3", "--duration-spread", "0"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<12).map { "paid fox \($0)" }.joined(separator: "\n")).status == 0)
        let daemon = try DaemonProcessTests.startDaemon(cli, sim, ["--concurrency", "4", "--balance-check-interval", "1s", "--log-level", "info"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        let pausedReason = { (try? cli.json(["status"])["daemon"]?["paused_reason"]?.stringValue) ?? "" }
        #expect(eventually(timeout: 60) { pausedReason().contains("credit") && (try? cli.count("completed")) == 5 }, "\(daemon.errors)")
        let firstPause = try await Self.refusals(sim)
        #expect((1...4).contains(firstPause), "only submissions already under way: \(firstPause)")

        // 40 left + 240: three more jobs, and no fourth sent to be refused.
        try await addSimulatorCredits(sim.baseURL, points: 240)
        #expect(eventually(timeout: 90) { (try? cli.count("completed")) == 8 && pausedReason().contains("covers no more") }, "\(daemon.errors)")
        #expect(try await Self.refusals(sim) == firstPause, "no 402 after the first pause")

        try await addSimulatorCredits(sim.baseURL, points: 100_000)
        #expect(eventually(timeout: 120) { (try? cli.count("completed")) == 12 }, "\(daemon.errors)")
        #expect(try await Self.refusals(sim) == firstPause)
        #expect(try cli.count("failed") == 0)
        #expect(try await sim.stats().number("jobs_created") == 12)
        #expect(daemon.errors.components(separatedBy: "submissions resumed").count - 1 == 2, "\(daemon.errors)")
    }

    /// A daemon reading its key from a file that holds the wrong one, with one job queued: it
    /// pauses. Returns it and the key file.
    static func daemonWithAWrongKeyFile(_ cli: CLIFixture, _ sim: SimulatorProcess, _ extra: [String] = []) throws -> (RunningProcess, String) {
        let keyFile = cli.dir.file("key")
        try Data("not-the-key\n".utf8).write(to: URL(fileURLWithPath: keyFile))
        #expect(try cli.run(["enqueue", "a red fox"]).status == 0)
        var env = DaemonProcessTests.environment()
        env["LEGNEXT_API_KEY"] = nil
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--api-key-file", keyFile, "--log-level", "info"] + extra,
            environment: env
        )
        return (daemon, keyFile)
    }

    /// "Fix the key and the daemon resumes by itself": the key file is read again before each
    /// balance probe while Legnext refuses the key, without a restart.
    @Test func aFixedKeyFileResumesAPausedDaemon() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.1"])
        defer { sim.stop() }
        let (daemon, keyFile) = try Self.daemonWithAWrongKeyFile(cli, sim, ["--balance-check-interval", "1s"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { (try? cli.json(["status"])["daemon"]?["paused_reason"]?.stringValue)?.contains("API key") == true })
        try Data("sim-key\n".utf8).write(to: URL(fileURLWithPath: keyFile))
        #expect(eventually(timeout: 60) { (try? cli.count("completed")) == 1 }, "\(daemon.errors)")
        #expect(daemon.isRunning, "no restart")
        #expect(daemon.errors.contains("submissions resumed"))
        #expect(!daemon.errors.contains("sim-key") && !daemon.errors.contains("not-the-key"), "no key in the log")
    }

    /// SIGHUP reads the key again and checks it at once (`systemctl reload`).
    @Test func sighupReadsTheKeyAgainAndResumes() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.1"])
        defer { sim.stop() }
        let (daemon, keyFile) = try Self.daemonWithAWrongKeyFile(cli, sim)
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { daemon.errors.contains("submissions paused") })
        try Data("sim-key\n".utf8).write(to: URL(fileURLWithPath: keyFile))
        daemon.signal(SIGHUP)
        #expect(eventually(timeout: 30) { (try? cli.count("completed")) == 1 }, "\(daemon.errors)")
        #expect(daemon.errors.contains("SIGHUP: the API key was read again"), "\(daemon.errors)")
        #expect(daemon.isRunning)
        #expect(!daemon.errors.contains("sim-key") && !daemon.errors.contains("not-the-key"), "no key in the log")
    }
}
