import Crypto
import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Synchronization
import Testing

/// Downloads of outputs and the notification outbox, with the real daemon and simulator.
@Suite(.serialized) struct OutputsTests {
    static func drain(_ cli: CLIFixture, _ sim: SimulatorProcess, _ extra: [String]) throws -> CommandResult {
        try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--exit-when-idle", "--log-level", "warning"] + extra,
            environment: DaemonProcessTests.environment(),
            timeout: 120
        )
    }

    static func sha256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func outputsAreSavedWithSizeTypeAndDigestAndSurviveARestart() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        let folder = cli.dir.file("outputs")
        #expect(try cli.run(["enqueue", "a fox", "a heron"]).status == 0)
        let first = try Self.drain(cli, sim, ["--output-dir", folder, "--download-hosts", "127.0.0.1"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE download_state = 'done'") == "10", "a grid and four images each")
        let rows = try cli.sqlite(
            "SELECT path || '|' || size || '|' || content_type || '|' || sha256 FROM job_outputs ORDER BY job_id, kind, idx"
        )
        for row in rows.split(separator: "\n") {
            let fields = row.split(separator: "|").map(String.init)
            #expect(fields[0].hasPrefix(folder + "/"), "under --output-dir: \(fields[0])")
            let data = try Data(contentsOf: URL(fileURLWithPath: fields[0]))
            #expect(data.count == Int(fields[1]))
            #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a real PNG")
            #expect(fields[2] == "image/png")
            #expect(try Self.sha256(fields[0]) == fields[3])
        }
        #expect(FileManager.default.fileExists(atPath: folder + "/1/grid.png"))
        #expect(FileManager.default.fileExists(atPath: folder + "/2/image-3.png"))

        // A crash in the middle of one download: its row still pending, a partial file beside.
        let done = folder + "/1/image-0.png"
        let before = try FileManager.default.attributesOfItem(atPath: done)[.modificationDate] as? Date
        try FileManager.default.removeItem(atPath: folder + "/2/image-2.png")
        try Data("half a png".utf8).write(to: URL(fileURLWithPath: folder + "/2/.image-2.part"))
        _ = try cli.sqlite(
            "UPDATE job_outputs SET download_state = 'pending', next_download_at = '2000-01-01T00:00:00.000Z' WHERE job_id = 2 AND kind = 'image' AND idx = 2"
        )
        let second = try Self.drain(cli, sim, ["--output-dir", folder, "--download-hosts", "127.0.0.1"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try cli.sqlite("SELECT download_state FROM job_outputs WHERE job_id = 2 AND kind = 'image' AND idx = 2") == "done")
        #expect(FileManager.default.fileExists(atPath: folder + "/2/image-2.png"), "the half-done one is redone")
        #expect(!FileManager.default.fileExists(atPath: folder + "/2/.image-2.part"))
        let after = try FileManager.default.attributesOfItem(atPath: done)[.modificationDate] as? Date
        #expect(before == after, "a finished one is never fetched again")
        let show = try cli.json(["show", "2"])
        let image0 = show["outputs"]?.arrayValue?.first { $0["kind"] == "image" && $0["index"]?.intValue == 0 }
        #expect(image0?["download"]?["state"] == "done")
        #expect(image0?["download"]?["path"]?.stringValue == folder + "/2/image-0.png", "one numbering: show's image 0 is image-0.png")
    }

    /// Each output is fetched once: a list of due downloads read while another download was
    /// finishing used to fetch that one again (and demote it to failed when the second GET failed).
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func everyOutputIsFetchedExactlyOnce() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0.5"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<150).map { "fox \($0)" }.joined(separator: "\n")).status == 0)
        let drained = try Self.drain(
            cli,
            sim,
            ["--output-dir", cli.dir.file("outputs"), "--download-hosts", "127.0.0.1", "--concurrency", "20", "--download-concurrency", "4"]
        )
        #expect(drained.status == 0, "\(drained.stderr)")
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE download_state = 'done'") == "750")
        #expect(try await sim.stats().number("files_served") == 750, "no output fetched twice")
    }

    /// A server that sends headers and then nothing holds its downloads open, but not the slots:
    /// every other output is saved while the stalled ones are still in their first attempt.
    /// The stall timeout then gives them up for a later retry, with a reason.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aStalledDownloadDoesNotStarveTheOthers() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        let prompts = ["a stalled fox sim:stall-download"] + (0..<18).map { "healthy heron \($0)" }
        #expect(try cli.run(["enqueue", "--file", "-"], input: prompts.joined(separator: "\n")).status == 0)
        let options = [
            "--output-dir", cli.dir.file("outputs"), "--download-hosts", "127.0.0.1", "--download-concurrency", "2", "--concurrency", "10",
        ]
        let first = try DaemonProcessTests.startDaemon(cli, sim, options + ["--download-stall-timeout", "1h"])
        let healthyDone = "SELECT count(*) FROM job_outputs WHERE job_id > 1 AND download_state = 'done'"
        #expect(eventually(timeout: 120) { (try? cli.sqlite(healthyDone)) == "90" }, "\(first.errors)")
        #expect(
            try cli.sqlite("SELECT count(*) || ' ' || sum(download_attempts) FROM job_outputs WHERE job_id = 1 AND download_state = 'pending'")
                == "5 0",
            "the stalled ones are still in their first attempt"
        )
        first.signal(SIGTERM)
        let stopped = first.wait()
        #expect(stopped.status == 0, "stops with downloads stalled: \(stopped.stderr)")

        let second = try DaemonProcessTests.startDaemon(cli, sim, options + ["--download-stall-timeout", "1s"])
        defer {
            second.signal(SIGTERM)
            second.wait()
        }
        let givenUp = "SELECT count(*) FROM job_outputs WHERE job_id = 1 AND download_attempts > 0 AND download_error LIKE '%sent nothing for 1s%'"
        #expect(eventually(timeout: 60) { (try? cli.sqlite(givenUp)) == "5" }, "\(second.errors)")
        #expect(try cli.sqlite("SELECT DISTINCT download_state FROM job_outputs WHERE job_id = 1") == "pending", "retried later, not failed")
    }

    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aHostOffTheAllowlistAndAnOversizedFileFailTheOutputNotTheJob() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "elsewhere"]).status == 0)
        let offList = try Self.drain(cli, sim, ["--output-dir", cli.dir.file("a"), "--download-hosts", "cdn.example.com"])
        #expect(offList.status == 0, "\(offList.stderr)")
        #expect(try cli.sqlite("SELECT state FROM jobs WHERE id = 1") == "completed")
        #expect(try cli.sqlite("SELECT DISTINCT download_state FROM job_outputs WHERE job_id = 1") == "failed")
        #expect(try cli.sqlite("SELECT download_error FROM job_outputs WHERE job_id = 1 LIMIT 1").contains("not on the download allowlist"))
        #expect(!FileManager.default.fileExists(atPath: cli.dir.file("a/1")), "nothing fetched")

        #expect(try cli.run(["enqueue", "too big"]).status == 0)
        let capped = try Self.drain(cli, sim, ["--output-dir", cli.dir.file("b"), "--download-hosts", "127.0.0.1", "--download-max-bytes", "16"])
        #expect(capped.status == 0, "\(capped.stderr)")
        #expect(try cli.sqlite("SELECT state FROM jobs WHERE id = 2") == "completed")
        #expect(try cli.sqlite("SELECT DISTINCT download_state FROM job_outputs WHERE job_id = 2") == "failed")
        #expect(try cli.sqlite("SELECT download_error FROM job_outputs WHERE job_id = 2 LIMIT 1").contains("16-byte cap"))
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: cli.dir.file("b/2"))) ?? []
        #expect(leftovers.isEmpty, "no partial files left: \(leftovers)")
    }

    /// The receiver refuses the first attempts, the daemon is stopped and started again in
    /// between; every job end still arrives, signed, under one delivery id per job.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func notificationsAreSignedRetriedAcrossARestartAndDeliveredOncePerId() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        let secret = "a-shared-secret-of-some-length"
        let secretFile = cli.dir.file("notify.key")
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: secretFile))
        let refusing = Mutex(true)
        let receiver = HTTPReceiver { _ in refusing.withLock { $0 } ? 503 : 200 }
        #expect(try cli.run(["enqueue", "one", "two sim:fail", "three"]).status == 0)
        try await receiver.run { base in
            let arguments = [
                "--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--log-level", "warning",
                "--notify-url", base + "/hooks/legnext", "--notify-secret-file", secretFile,
            ]
            let first = try RunningProcess(CLIFixture.binary, arguments, environment: DaemonProcessTests.environment())
            #expect(
                eventually(timeout: 60) {
                    (try? cli.sqlite("SELECT count(*) FROM notifications WHERE attempts >= 1")) == "3"
                },
                "every end tried at least once: \(first.errors)"
            )
            #expect(try cli.sqlite("SELECT count(*) FROM notifications WHERE state = 'delivered'") == "0")
            first.signal(SIGTERM)
            #expect(first.wait(timeout: 30).status == 0)

            refusing.withLock { $0 = false }
            let second = try RunningProcess(CLIFixture.binary, arguments, environment: DaemonProcessTests.environment())
            defer {
                second.signal(SIGTERM)
                second.wait()
            }
            #expect(
                eventually(timeout: 60) {
                    (try? cli.sqlite("SELECT count(*) FROM notifications WHERE state = 'delivered'")) == "3"
                },
                "delivered after the restart: \(second.errors)"
            )
        }
        let posts = receiver.requests
        #expect(posts.count >= 6, "refused ones and accepted ones")
        var applied: [String: JSONValue] = [:]
        for post in posts {
            #expect(post.path == "/hooks/legnext")
            let delivery = try #require(post.headers["x-legnextqueue-delivery"])
            let timestamp = try #require(post.headers["x-legnextqueue-timestamp"])
            let signature = try #require(post.headers["x-legnextqueue-signature"])
            var message = Data(timestamp.utf8)
            message.append(UInt8(ascii: "."))
            message.append(post.body)
            let expected = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
            #expect(signature == "sha256=" + expected.map { String(format: "%02x", $0) }.joined(), "signed over timestamp.body")
            let json = try JSONValue(data: post.body)
            #expect(json["delivery_id"]?.stringValue == delivery)
            if applied[delivery] == nil { applied[delivery] = json }  // a receiver applies each id once
        }
        #expect(applied.count == 3, "one delivery id per job end")
        let states = applied.values.compactMap { $0["job"]?["state"]?.stringValue }.sorted()
        #expect(states == ["completed", "completed", "failed"])
        let failed = try #require(applied.values.first { $0["job"]?["state"] == "failed" })
        #expect(failed["job"]?["error"]?.stringValue?.contains("simulated") == true)
        let completed = try #require(applied.values.first { $0["job"]?["state"] == "completed" })
        #expect(completed["job"]?["outputs"]?.arrayValue?.count == 5)
        let show = try cli.json(["show", "1"])
        #expect(show["notifications"]?.arrayValue?.first?["state"] == "delivered")
        #expect((show["notifications"]?.arrayValue?.first?["attempts"]?.intValue ?? 0) >= 2)
    }

    /// The finish command gets the job in its environment; nothing of the job reaches a shell
    /// command line, so a prompt full of shell syntax runs nothing.
    @Test func theFinishCommandSeesTheJobOnlyThroughItsEnvironment() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        let log = cli.dir.file("finished.txt")
        let trap = cli.dir.file("pwned")
        #expect(try cli.run(["enqueue", "--tag", "x; touch \(trap)", "a fox $(touch \(trap)) `touch \(trap)`"]).status == 0)
        let result = try Self.drain(
            cli,
            sim,
            [
                "--output-dir", cli.dir.file("out"), "--download-hosts", "127.0.0.1",
                "--on-finish", "printf '%s|%s|%s|%s\\n' \"$LNQ_JOB_ID\" \"$LNQ_JOB_STATE\" \"$LNQ_JOB_TAG\" \"$LNQ_OUTPUT_PATHS\" >> \(log)",
            ]
        )
        #expect(result.status == 0, "\(result.stderr)")
        let written = try String(contentsOfFile: log, encoding: .utf8)
        #expect(written.hasPrefix("1|completed|x; touch \(trap)|\(cli.dir.file("out"))/1/grid.png\n"), "\(written)")
        #expect(!FileManager.default.fileExists(atPath: trap), "job data never ran as a command")
        #expect(try cli.json(["show", "1"])["notifications"]?.arrayValue?.first?["channel"] == "command")
    }

    @Test func notifyOptionsSayWhatToDo() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let environment = DaemonProcessTests.environment()
        let unsigned = try cli.run(["run", "--notify-url", "https://example.com/hook"], environment: environment)
        #expect(unsigned.status == 64)
        #expect(unsigned.stderr.contains("--notify-secret-file"))
        let short = cli.dir.file("short.key")
        try Data("tiny".utf8).write(to: URL(fileURLWithPath: short))
        let weak = try cli.run(["run", "--notify-url", "https://example.com/hook", "--notify-secret-file", short], environment: environment)
        #expect(weak.status == 78)
        #expect(weak.stderr.contains("under 16 bytes"))
        #expect(try cli.run(["run", "--download-max-bytes", "lots"], environment: environment).status == 64)
        // Under systemd the key arrives as a credential, and --notify-url finds it there.
        let credentials = cli.dir.file("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try Data(String(repeating: "k", count: 32).utf8).write(to: URL(fileURLWithPath: credentials + "/legnext-notify-secret"))
        var systemd = environment
        systemd["CREDENTIALS_DIRECTORY"] = credentials
        let found = try cli.run(
            ["run", "--notify-url", "https://example.com/hook", "--base-url", "http://127.0.0.1:9", "--exit-when-idle", "--no-downloads"],
            environment: systemd
        )
        #expect(found.status == 0, "\(found.stderr)")
    }
}
