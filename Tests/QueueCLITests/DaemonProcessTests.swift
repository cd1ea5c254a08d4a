import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Testing

/// The daemon as a process: signals, kill -9, a second daemon (issue tests 6, 7, 10).
@Suite(.serialized) struct DaemonProcessTests {
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LEGNEXT_API_KEY"] = "sim-key"
        env["LEGNEXT_QUEUE_DB"] = nil
        env.merge(extra) { $1 }
        return env
    }

    static func startDaemon(_ cli: CLIFixture, _ sim: SimulatorProcess, _ extra: [String] = []) throws -> RunningProcess {
        try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--log-level", "warning"] + extra,
            environment: environment()
        )
    }

    /// `run --exit-when-idle` to the end (at most a minute).
    static func drain(_ cli: CLIFixture, _ sim: SimulatorProcess, logLevel: String, _ extra: [String] = []) throws -> CommandResult {
        try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--exit-when-idle", "--log-level", logLevel] + extra,
            environment: environment(),
            timeout: 60
        )
    }

    @Test func aSecondDaemonOnTheSameFileRefuses() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        try cli.run(["migrate"])
        let first = try Self.startDaemon(cli, sim)
        defer {
            first.signal(SIGTERM)
            first.wait()
        }
        #expect(eventually(timeout: 20) { (try? cli.json(["status"])["daemon"]?["running"]) == .bool(true) })
        let second = try Subprocess.run(CLIFixture.binary, ["--db", cli.db, "run", "--base-url", sim.baseURL], environment: Self.environment())
        #expect(second.status == 75)
        #expect(second.stderr.contains("already runs"))
        #expect(second.stderr.contains("pid \(first.pid)"))
        #expect(first.isRunning)
    }

    /// One daemon per file, not per name: through a symlink the second daemon meets the first
    /// one's lock (and its row in the database) and refuses (exit 75) before its start-up
    /// recovery can touch the first one's submissions.
    @Test func aSecondDaemonThroughASymlinkRefuses() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "30", "--duration-spread", "0.1"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<8).map { "long job \($0)" }.joined(separator: "\n")).status == 0)
        let alias = cli.dir.file("alias.db")
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: cli.db)
        let first = try Self.startDaemon(cli, sim, ["--concurrency", "8"])
        defer {
            first.signal(SIGTERM)
            first.wait()
        }
        let inFlight = { (try? cli.json(["status"])["in_flight"]?.intValue) ?? 0 }
        #expect(eventually(timeout: 30) { inFlight() == 8 && (try? cli.count("submitting")) == 0 })
        // Settled: each row has seen its job start (a 30 s job stays processing long after).
        #expect(eventually(timeout: 30) { (try? cli.count("processing")) == 8 })
        let before = try cli.sqlite("SELECT group_concat(id || state || coalesce(remote_job_id, '-'), ',') FROM jobs")
        let second = try Subprocess.run(
            CLIFixture.binary,
            ["--db", alias, "run", "--base-url", sim.baseURL, "--rate", "0"],
            environment: Self.environment()
        )
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("already runs") && second.stderr.contains("pid \(first.pid)"), "\(second.stderr)")
        #expect(first.isRunning)
        #expect(try cli.sqlite("SELECT group_concat(id || state || coalesce(remote_job_id, '-'), ',') FROM jobs") == before)
        #expect(try await sim.stats().number("jobs_created") == 8)
    }

    /// A hard link is a second name SQLite journals apart: no command opens a queue through one.
    @Test func aQueueWithTwoHardLinksIsRefused() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "a red fox"]).status == 0)
        let alias = cli.dir.file("alias.db")
        try FileManager.default.linkItem(atPath: cli.db, toPath: alias)
        for (db, arguments) in [
            (alias, ["run", "--simulate", "--exit-when-idle"]), (cli.db, ["run", "--simulate", "--exit-when-idle"]), (alias, ["status"]),
        ] {
            let result = try Subprocess.run(CLIFixture.binary, ["--db", db] + arguments, environment: Self.environment())
            #expect(result.status == 78, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("2 hard links") && result.stderr.contains("-samefile"), "\(result.stderr)")
        }
        #expect(try cli.sqlite("SELECT state FROM jobs") == "queued", "nothing ran")
        try FileManager.default.removeItem(atPath: alias)
        #expect(try cli.run(["status"]).status == 0)
    }

    /// `--exit-when-idle` does not wait hours for a deferred job: it exits and says so.
    @Test func exitWhenIdleSaysWhatIsDeferredInsteadOfWaiting() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.1"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "now"]).status == 0)
        #expect(try cli.run(["enqueue", "--after", "2h", "later"]).status == 0)
        let run = try Self.drain(cli, sim, logLevel: "notice")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("1 job(s) deferred until"), "\(run.stderr)")
        #expect(try cli.sqlite("SELECT group_concat(state, ',') FROM jobs ORDER BY id") == "completed,queued")
    }

    /// Without `--concurrency` the daemon takes the plan's limit from `GET /account/active_tasks`
    /// and keeps a lead of jobs waiting in Legnext's own queue beyond it, and says so; the
    /// endpoint lists the unfinished jobs with progress and time left.
    @Test func withoutConcurrencyTheDaemonLearnsThePlansLimit() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--concurrency", "3", "--duration-median", "5", "--duration-spread", "0"])
        defer { sim.stop() }
        // The first four (sent together, in any order) are long; the last, sent when one ends, short.
        let prompts = (0..<5).map { "a plan's fox \($0)" + ($0 == 4 ? " sim:duration=0.5" : "") }
        #expect(try cli.run(["enqueue", "--file", "-"], input: prompts.joined(separator: "\n")).status == 0)
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--log-level", "notice"],
            environment: Self.environment()
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(
            eventually(timeout: 30) {
                daemon.errors.contains("the plan runs 3 jobs at once") && daemon.errors.contains("concurrency 4, 1 of them waiting")
            },
            "\(daemon.errors)"
        )
        // A job that has just taken a slot shows `pending` for its start-up moment, so look until
        // the plan's three are processing (for 5 s); the fourth, the lead, waits until one ends.
        var tasks: [JSONValue] = []
        var limit: Int?
        let seen = try await eventuallyAsync(timeout: 30) {
            let active = try await simulatorActiveTasks(sim.baseURL)
            limit = active["concurrent_limit"]?.intValue
            tasks = active["tasks"]?.arrayValue ?? []
            return tasks.count == 4 && tasks.filter { $0["status"] == "processing" }.count == 3
        }
        #expect(seen, "the plan's three run, the lead waits in Legnext's queue: \(tasks)")
        #expect(limit == 3)
        #expect(tasks.allSatisfy { $0["task_type"] == "diffusion" && $0["estimated_time"]?.doubleValue != nil }, "\(tasks)")
        #expect(tasks.filter { $0["status"] == "pending" }.count == 1, "\(tasks)")
        #expect(eventually(timeout: 30) { (try? cli.json(["status"])["daemon"]?["concurrency"]?.intValue) == 4 })
        #expect(eventually(timeout: 60) { (try? cli.count("completed")) == 5 })
    }

    /// Where the server has no `GET /account/active_tasks`, `--plan-concurrency` gives the plan's
    /// limit: the daemon keeps the same lead beyond it, polls each job on its own, and says so.
    @Test func withoutTheListThePlansLimitIsGivenAndEachJobPolled() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--concurrency", "3", "--no-active-tasks", "--duration-median", "2", "--duration-spread", "0"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<5).map { "a told plan's fox \($0)" }.joined(separator: "\n")).status == 0)
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--plan-concurrency", "3", "--log-level", "notice"],
            environment: Self.environment()
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(
            eventually(timeout: 30) {
                daemon.errors.contains("the plan runs 3 jobs at once (--plan-concurrency): concurrency 4, 1 of them waiting")
                    && daemon.errors.contains("Legnext has no GET /account/active_tasks: each in-flight job is polled on its own")
            },
            "\(daemon.errors)"
        )
        #expect(eventually(timeout: 30) { (try? cli.json(["status"])["daemon"]?["concurrency"]?.intValue) == 4 })
        #expect(eventually(timeout: 60) { (try? cli.count("completed")) == 5 })
    }

    /// A queue holding every kind Legnext has, follow-ups on the parents they need, drains with
    /// nothing refused: every request the daemon sends is one the simulator (our reading of the
    /// docs, written apart from the client) accepts. Among them the two shapes our first picture
    /// had wrong: an inpaint with a JSON mask and a video made from an earlier image job.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "skipped: needs the sqlite3 shell"))
    func aQueueOfEveryKindDrainsWithNothingRefused() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        let image = "https://a.example/1.png"
        let canvas = #"canvas={"width": 1024, "height": 1024}"#
        let imgPos = #"imgPos={"width": 512, "height": 512, "x": 0, "y": 0}"#
        let jobs: [[String]] = [
            ["a fox in the snow"],  // 1
            ["a fox at dawn --v 7 --draft"],  // 2
            ["--kind", "variation", "--parent", "1", "--param", "imageNo=0", "--param", "type=0"],
            ["--kind", "upscale", "--parent", "1", "--param", "imageNo=1", "--param", "type=1"],
            ["--kind", "reroll", "--parent", "1"],
            ["--kind", "blend", "--param", #"imgUrls=["\#(image)", "https://a.example/2.png"]"#, "--param", "aspect_ratio=1:1"],
            ["--kind", "describe", "--param", "imgUrl=\(image)"],
            ["--kind", "shorten", "a very long prompt about a fox in the snow at dawn, in the style of an old woodcut"],
            ["--kind", "pan", "--parent", "1", "--param", "imageNo=0", "--param", "direction=up", "--param", "scale=1.5", "more sky"],
            ["--kind", "outpaint", "--parent", "1", "--param", "imageNo=0", "--param", "scale=1.5"],
            [
                "--kind", "inpaint", "--parent", "1", "--param", "imageNo=0", "--param",
                #"mask={"areas": [{"width": 1024, "height": 1024, "points": [100, 100, 600, 100, 600, 600]}]}"#, "a red hat",
            ],
            ["--kind", "remix", "--parent", "1", "--param", "imageNo=2", "--param", "mode=1", "as a sketch"],
            ["--kind", "edit", "--parent", "1", "--param", "imageNo=3", "--param", canvas, "--param", imgPos, "a boat"],
            [
                "--kind", "upload-paint", "--param", "imgUrl=\(image)", "--param", canvas, "--param", imgPos, "--param",
                #"mask={"url": "https://a.example/m.png"}"#, "a boat",
            ],
            ["--kind", "retexture", "--param", "imgUrl=\(image)", "velvet"],
            ["--kind", "remove-background", "--param", "imgUrl=\(image)"],
            ["--kind", "enhance", "--parent", "2", "--param", "imageNo=0"],
            ["--kind", "video-diffusion", "\(image) the waves roll in"],  // 18
            ["--kind", "video-diffusion", "--parent", "1", "--param", "imageNo=2"],  // 19
            ["--kind", "extend-video", "--parent", "18", "--param", "videoNo=0", "the storm arrives"],  // 20
            ["--kind", "video-upscale", "--parent", "20", "--param", "videoNo=0"],
        ]
        for arguments in jobs {
            let result = try cli.run(["enqueue"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        #expect(try cli.sqlite("SELECT count(DISTINCT kind) FROM jobs") == String(LegnextKind.allCases.count))
        // What Legnext would refuse is refused at insert, naming the parent's problem.
        let upscaleOfVideo = try cli.run(["enqueue", "--kind", "upscale", "--parent", "18", "--param", "imageNo=0", "--param", "type=0"])
        #expect(upscaleOfVideo.status == 65 && upscaleOfVideo.stderr.contains("upscale acts on an image"), "\(upscaleOfVideo.stderr)")
        let enhanceOfFull = try cli.run(["enqueue", "--kind", "enhance", "--parent", "1", "--param", "imageNo=0"])
        #expect(enhanceOfFull.status == 65 && enhanceOfFull.stderr.contains("no --draft"), "\(enhanceOfFull.stderr)")

        let run = try Self.drain(cli, sim, logLevel: "warning", ["--concurrency", "\(jobs.count)"])
        #expect(run.status == 0, "\(run.stderr)")
        let ends = try cli.sqlite("SELECT group_concat(id || ' ' || kind || ' ' || state || ' ' || coalesce(error, ''), char(10)) FROM jobs")
        #expect(try cli.count("completed") == jobs.count, "\(ends)")
        let requests = try #require(try await sim.stats()["requests"]?.objectValue)
        let refused = requests.compactMapValues { byStatus in byStatus.objectValue?.filter { $0.key != "200" } }.filter { !$0.value.isEmpty }
        #expect(refused.isEmpty, "answers other than 200: \(refused)")
        #expect(requests.keys.filter { $0.hasPrefix("POST ") }.count == LegnextKind.allCases.count, "\(requests.keys.sorted())")
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE job_id = 19 AND kind = 'video'") != "0")
    }

    /// The run's closing line counts every job that ended in it, whichever way: failed at
    /// Legnext, refused, a follow-up whose parent failed, a row a person broke, completed.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "skipped: needs the sqlite3 shell"))
    func theStoppedLineCountsEveryEndOfTheRun() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.2", "--duration-spread", "0"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "fails sim:fail", "refused sim:reject=403", "fine", "also fine", "fails too sim:fail"]).status == 0)
        #expect(try cli.run(["enqueue", "--kind", "upscale", "--parent", "1", "--param", "imageNo=0", "--param", "type=0"]).status == 0)
        // A row only `sqlite3` with the checks switched off could write: failed at claim, counted.
        _ = try Subprocess.run(
            Subprocess.sqlite3!,
            [cli.db, "PRAGMA ignore_check_constraints = ON; INSERT INTO jobs(kind, prompt) VALUES ('diffusion', '   ')"]
        )
        #expect(try cli.sqlite("SELECT count(*) FROM jobs") == "7")
        let run = try Self.drain(cli, sim, logLevel: "info")
        #expect(run.status == 0, "\(run.stderr)")
        let completed = try cli.sqlite("SELECT count(*) FROM jobs WHERE state = 'completed'")
        let failed = try cli.sqlite("SELECT count(*) FROM jobs WHERE state = 'failed'")
        let rows = try cli.sqlite("SELECT group_concat(id || ' ' || state || ' ' || coalesce(error, ''), char(10)) FROM jobs")
        #expect(completed == "2" && failed == "5", "\(rows)")
        #expect(run.stderr.contains("stopped: \(completed) completed and \(failed) failed in this run"), "\(run.stderr)")
    }

    @Test func sigtermStopsCleanlyWithinTheGracePeriod() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "1", "--duration-spread", "0.2", "--latency", "50"])
        defer { sim.stop() }
        let prompts = (0..<60).map { "graceful \($0)" }.joined(separator: "\n")
        #expect(try cli.run(["enqueue", "--file", "-"], input: prompts).status == 0)
        let daemon = try Self.startDaemon(cli, sim, ["--concurrency", "8", "--grace-period", "5s"])
        #expect(
            eventually(timeout: 30) { ((try? cli.count("completed")) ?? 0) >= 5 && ((try? cli.json(["status"])["in_flight"]?.intValue) ?? 0) > 0 }
        )
        daemon.signal(SIGTERM)
        let result = daemon.wait(timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        // The daemon judges the grace period on its own clock and says when it cuts requests off.
        #expect(!result.stderr.contains("grace period over"), "requests under way finished within the grace period: \(result.stderr)")
        #expect(try cli.count("submitting") == 0)
        let status = try cli.json(["status"])
        #expect(status["daemon"]?["running"] == false)
        #expect(status["daemon"]?["stopped_at"]?.stringValue != nil)
        // What was left is picked up again by the next run.
        let resumed = try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "20", "--exit-when-idle", "--log-level", "warning"],
            environment: Self.environment(),
            timeout: 120
        )
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try cli.count("completed") + cli.count("failed") == 60)
        #expect(try await sim.stats().number("duplicate_submissions") == 0)
    }

    /// Test 6: kill -9 at random moments, restart each time; nothing lost, nothing charged twice.
    @Test func killNineDuringADrainLosesNothingAndChargesNothingTwice() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.6", "--duration-spread", "0.4", "--latency", "5", "--seed", "11"])
        defer { sim.stop() }
        let total = 80
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<total).map { "chaos \($0)" }.joined(separator: "\n")).status == 0)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let daemon = try Self.startDaemon(cli, sim, ["--concurrency", "6"])
            usleep(UInt32.random(in: 300_000...1_500_000, using: &generator))
            kill(daemon.pid, SIGKILL)
            let result = daemon.wait(timeout: 10)
            #expect(result.status == 9 || result.status == SIGKILL, "round \(round): killed, not exited (\(result.status))")
        }
        let last = try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "10", "--exit-when-idle", "--log-level", "warning"],
            environment: Self.environment(),
            timeout: 180
        )
        #expect(last.status == 0, "\(last.stderr)")
        let status = try cli.json(["status"])
        let counts = try #require(status["counts"]?.objectValue)
        let finished = ["completed", "failed", "uncertain"].reduce(0) { $0 + (counts[$1]?.intValue ?? 0) }
        #expect(finished == total, "every job ended: \(counts)")
        #expect(status["total"] == .int(total), "no job lost")
        let stats = try await sim.stats()
        #expect(stats.number("duplicate_submissions") == 0, "nothing submitted twice")
        #expect(stats.number("jobs_created")! <= Double(total))
        if let sqlite3 = Subprocess.sqlite3 {
            #expect(try Subprocess.run(sqlite3, [cli.db, "PRAGMA integrity_check;"]).stdout == "ok\n")
        }
        // Every completed job kept one remote id of its own.
        let jobs = try #require(try cli.json(["list", "--limit", "1000"]).arrayValue)
        let remoteIds = jobs.compactMap { $0["remote_job_id"]?.stringValue }
        #expect(Set(remoteIds).count == remoteIds.count)
    }
}
