import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Testing

/// Callbacks end to end: the real daemon receiving the simulator's callbacks, and everything a
/// stranger could POST to the receiver.
@Suite(.serialized) struct CallbackTests {
    /// Starts the daemon with a callback receiver on a free loopback port; returns it and its URL.
    static func startDaemon(_ cli: CLIFixture, _ sim: SimulatorProcess, _ extra: [String] = []) throws -> (RunningProcess, String) {
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--callback-listen", "127.0.0.1:0", "--log-level", "info"] + extra,
            environment: DaemonProcessTests.environment()
        )
        var base: String?
        _ = eventually(timeout: 30) {
            base = daemon.errors.split(separator: "\n").first { $0.contains("receiving Legnext callbacks on") }?
                .split(separator: " ").last.map { String($0.dropLast("/legnext/".count)) }
            return base != nil
        }
        guard let base else {
            daemon.signal(SIGKILL)
            throw CLITestError("no callback receiver: \(daemon.errors)")
        }
        return (daemon, base)
    }

    /// Drains `jobs` jobs at concurrency 10 on a fresh simulator with `seed`; returns requests per job.
    static func drain(callbacks: Bool, jobs: Int, seed: Int) async throws -> Double {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--seed", String(seed), "--duration-median", "0.6", "--duration-spread", "0.3"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<jobs).map { "drain \($0)" }.joined(separator: "\n")).status == 0)
        let arguments =
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "10", "--exit-when-idle", "--log-level", "warning"]
            + (callbacks ? ["--callback-listen", "127.0.0.1:0"] : [])
        let result = try Subprocess.run(CLIFixture.binary, arguments, environment: DaemonProcessTests.environment(), timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try cli.count("completed") == jobs)
        let stats = try await sim.stats()
        #expect(stats.number("duplicate_submissions") == 0)
        return try #require(stats.number("requests_total")) / Double(jobs)
    }

    /// Which finishes sooner is a makespan: legnext-bench's drain rows measure it; no test bounds it.
    @Test func callbacksSpendFewerRequestsThanPolling() async throws {
        let polling = try await Self.drain(callbacks: false, jobs: 40, seed: 5)
        let callbacks = try await Self.drain(callbacks: true, jobs: 40, seed: 5)
        // One POST and one confirming GET per job; a safety-net poll only if a callback is late.
        #expect(callbacks <= 2.25, "requests per job with callbacks: \(callbacks)")
        #expect(callbacks < polling, "requests per job: callbacks \(callbacks), polling \(polling)")
    }

    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func strangersChangeNothing() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "a slow heron sim:duration=60"]).status == 0)
        let (daemon, base) = try Self.startDaemon(cli, sim)
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { (try? cli.sqlite("SELECT remote_job_id IS NOT NULL FROM jobs WHERE id = 1")) == "1" })
        let token = try cli.sqlite("SELECT callback_token FROM jobs WHERE id = 1")
        let remote = try cli.sqlite("SELECT remote_job_id FROM jobs WHERE id = 1")
        #expect(token.count == 32)
        func post(_ path: String, _ body: String) async throws -> Int {
            try await URLSessionLite.post(base + path, body: Data(body.utf8)).1
        }
        let forged = #"{"job_id": "\#(remote)", "status": "completed", "output": {"image_url": "https://evil.example/x.png"}}"#
        #expect(try await post("/legnext/999/\(token)", forged) == 404, "unknown job")
        #expect(try await post("/legnext/abc/\(token)", forged) == 404, "not a job id")
        #expect(try await post("/legnext/1/" + String(repeating: "0", count: 32), forged) == 403, "wrong token")
        #expect(try await post("/legnext/1/\(token.prefix(31))", forged) == 403, "a token prefix")
        #expect(try await post("/legnext/1/\(token)", "not json") == 400)
        #expect(try await post("/legnext/1/\(token)", "[1, 2]") == 400, "JSON, but not an object")
        #expect(try await post("/legnext/1/\(token)", "{\"pad\": \"" + String(repeating: "x", count: 300_000) + "\"}") == 413)
        #expect(try await post("/legnext/1/\(token)", #"{"job_id": "someone-elses", "status": "completed"}"#) == 409)
        // The right token with a forged "completed": only makes the daemon look, and Legnext says
        // the job is still processing.
        let polls = { try await sim.stats().number("requests", "GET /v1/job/{id}", "200") ?? 0 }
        let before = try await polls()
        #expect(try await post("/legnext/1/\(token)", forged) == 202)
        #expect(try await eventuallyAsync(timeout: 20) { try await polls() > before }, "a confirming GET")
        try await Task.sleep(for: .milliseconds(300))
        #expect(["pending", "processing"].contains(try cli.sqlite("SELECT state FROM jobs WHERE id = 1")), "still in flight")
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE job_id = 1") == "0")
        #expect(try cli.sqlite("SELECT count(*) FROM jobs WHERE output LIKE '%evil%'") == "0")
        #expect(daemon.isRunning)
        #expect(!daemon.errors.contains(token), "the token stays out of the log")
    }

    /// A submission whose answer was lost leaves the job uncertain; Legnext's callback names the
    /// job it created, a GET confirms it, and the job completes without being sent twice.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aLateCallbackSettlesAnUncertainJob() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        // Long enough that its callbacks come after the lost answer made it uncertain.
        #expect(try cli.run(["enqueue", "a lost answer sim:drop sim:duration=4", "a plain one sim:duration=0.5"]).status == 0)
        let (daemon, _) = try Self.startDaemon(cli, sim, ["--no-auto-settle"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 60) { (try? cli.sqlite("SELECT group_concat(state) FROM jobs ORDER BY id")) == "completed,completed" })
        let events = try cli.sqlite("SELECT group_concat(to_state, ' ') FROM (SELECT to_state FROM job_events WHERE job_id = 1 ORDER BY id)")
        #expect(events.contains("uncertain"), "\(events)")
        #expect(try cli.sqlite("SELECT detail FROM job_events WHERE job_id = 1 AND from_state = 'uncertain'").contains("callback"))
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE job_id = 1") != "0")
        let stats = try await sim.stats()
        #expect(stats.number("jobs_created") == 2)
        #expect(stats.number("duplicate_submissions") == 0)
    }

    /// The callbacks can come before the answer is lost: Legnext holds the POST's connection
    /// while the job runs and calls back, then closes it unanswered. The job they named is the
    /// evidence a later callback would have been: confirmed with a GET, adopted, never resent.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aCallbackBeforeTheAnswerIsLostSettlesTheJob() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "an answer held then lost sim:drop-after=3 sim:duration=0.3"]).status == 0)
        let (daemon, _) = try Self.startDaemon(cli, sim, ["--no-auto-settle"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 60) { (try? cli.sqlite("SELECT state FROM jobs WHERE id = 1")) == "completed" }, "\(daemon.errors)")
        let events = try cli.sqlite("SELECT group_concat(to_state, ' ') FROM (SELECT to_state FROM job_events WHERE job_id = 1 ORDER BY id)")
        #expect(events.contains("submitting uncertain"), "the answer was lost: \(events)")
        #expect(try cli.sqlite("SELECT detail FROM job_events WHERE job_id = 1 AND from_state = 'uncertain'").contains("callback"))
        #expect(daemon.errors.contains("a callback named Legnext job"), "\(daemon.errors)")
        let stats = try await sim.stats()
        #expect(stats.number("jobs_created") == 1)
        #expect(stats.number("duplicate_submissions") == 0)
    }

    /// A callback for an uncertain job adopts only a Legnext job that is its own: one whose
    /// `input` is not what this row sent is refused, and so is one another row already holds
    /// (two identical prompts, both answers lost: each row gets one of the two jobs); the
    /// confirming GET is tried again when it fails (here twice, with 500s). Legnext's own
    /// callbacks go nowhere (`--callback-url` of a closed port): each callback is this test's.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aCallbackAdoptsOnlyAJobThatIsOurs() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        let prompt = "a lost heron sim:drop sim:duration=30 sim:get-errors=1"
        #expect(try cli.run(["enqueue", prompt, prompt]).status == 0)
        let (daemon, base) = try Self.startDaemon(cli, sim, ["--callback-url", "http://127.0.0.1:9", "--no-auto-settle"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { (try? cli.sqlite("SELECT group_concat(state) FROM jobs ORDER BY id")) == "uncertain,uncertain" })
        let headers = ["content-type": "application/json", "x-api-key": "sim-key"]
        let made = try #require(try await simulatorActiveTasks(sim.baseURL)["tasks"]?.arrayValue?.compactMap { $0["job_id"]?.stringValue })
        try #require(made.count == 2, "the two lost POSTs made two jobs: \(made)")
        let (created, _) = try await URLSessionLite.post(
            sim.baseURL + "/v1/diffusion",
            body: Data(#"{"text": "someone else's heron"}"#.utf8),
            headers: headers
        )
        let stranger = try #require(try JSONValue(data: created)["job_id"]?.stringValue)
        func callback(_ job: Int, naming remote: String) async throws -> Int {
            let token = try cli.sqlite("SELECT callback_token FROM jobs WHERE id = \(job)")
            let body = Data(#"{"job_id": "\#(remote)", "status": "processing"}"#.utf8)
            return try await URLSessionLite.post(base + "/legnext/\(job)/\(token)", body: body).1
        }
        let events = { (job: Int) in try cli.sqlite("SELECT group_concat(detail, char(10)) FROM job_events WHERE job_id = \(job)") }
        let remote = { (job: Int) in try cli.sqlite("SELECT state || ' ' || coalesce(remote_job_id, '-') FROM jobs WHERE id = \(job)") }

        #expect(try await callback(1, naming: stranger) == 202)
        #expect(
            eventually(timeout: 20) { (try? events(1))?.contains("its input is not this job's (text differs") == true },
            "\((try? events(1)) ?? "")"
        )
        #expect(try remote(1) == "uncertain -")
        #expect(try await callback(1, naming: made[0]) == 202)
        #expect(eventually(timeout: 30) { (try? remote(1)) == "processing \(made[0])" }, "\((try? events(1)) ?? "")")
        #expect(daemon.errors.contains("confirming Legnext job \(made[0]) failed"), "the GET was tried again: \(daemon.errors)")
        #expect(try await callback(2, naming: made[0]) == 202)
        #expect(
            eventually(timeout: 20) { (try? events(2))?.contains("not adopting Legnext job \(made[0]) named by a callback: it is job 1's") == true }
        )
        #expect(try remote(2) == "uncertain -")
        #expect(try await callback(2, naming: made[1]) == 202)
        #expect(eventually(timeout: 30) { (try? remote(2)) == "processing \(made[1])" }, "\((try? events(2)) ?? "")")
        #expect(try await sim.stats().number("jobs_created") == 3, "nothing sent again")
    }

    /// A job an earlier attempt made has this row's input too, but it is not what this
    /// attempt's lost POST made: both answers lost, the job retried between them, a callback
    /// naming the first attempt's job is refused with the reason, and the second's is adopted.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aCallbackNamingAnEarlierAttemptsJobIsNotAdopted() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        func running() async throws -> [String] {
            try await simulatorActiveTasks(sim.baseURL)["tasks"]?.arrayValue?.compactMap { $0["job_id"]?.stringValue } ?? []
        }
        #expect(try cli.run(["enqueue", "an old heron sim:drop sim:duration=30"]).status == 0)
        let (daemon, base) = try Self.startDaemon(cli, sim, ["--callback-url", "http://127.0.0.1:9", "--no-auto-settle"])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        let uncertain = { (try? cli.sqlite("SELECT state FROM jobs WHERE id = 1")) == "uncertain" }
        #expect(eventually(timeout: 30) { uncertain() })
        let earlier = try #require(try await running().first)
        try await Task.sleep(for: .seconds(2.5))  // the second attempt past the clock allowance (2 s)
        #expect(try cli.run(["retry", "1"]).status == 0)
        #expect(eventually(timeout: 30) { uncertain() && (try? cli.sqlite("SELECT attempts FROM jobs WHERE id = 1")) == "1" })
        #expect(eventually(timeout: 10) { (try? cli.sqlite("SELECT count(*) FROM job_events WHERE job_id = 1 AND to_state = 'submitting'")) == "2" })
        var own: String?
        #expect(
            try await eventuallyAsync(timeout: 10) {
                own = try await running().first { $0 != earlier }
                return own != nil
            }
        )
        let token = try cli.sqlite("SELECT callback_token FROM jobs WHERE id = 1")
        func callback(naming remote: String) async throws -> Int {
            try await URLSessionLite.post(base + "/legnext/1/\(token)", body: Data(#"{"job_id": "\#(remote)", "status": "processing"}"#.utf8)).1
        }
        let events = { try cli.sqlite("SELECT group_concat(detail, char(10)) FROM job_events WHERE job_id = 1") }
        #expect(try await callback(naming: earlier) == 202)
        #expect(
            eventually(timeout: 20) { (try? events())?.contains("before this attempt was sent") == true },
            "\((try? events()) ?? "")"
        )
        #expect(uncertain())
        #expect(try await callback(naming: try #require(own)) == 202)
        // Adopted as Legnext shows it: it may still be in its pending start-up moment.
        let adopted = "SELECT state IN ('pending', 'processing') || ' ' || remote_job_id FROM jobs WHERE id = 1"
        #expect(eventually(timeout: 30) { (try? cli.sqlite(adopted)) == "1 \(own ?? "")" }, "\((try? events()) ?? "")")
        #expect(try await sim.stats().number("jobs_created") == 2, "each attempt made one")
    }

    /// With the account's webhook secret, only callbacks signed as Legnext signs them (the SDK's
    /// `X-Legnext-Signature` scheme) are heard: the simulator's signed ones are, a forged one with
    /// the right token but no, a wrong or an old signature is refused (401) and changes nothing.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func onlySignedCallbacksAreHeardWhenTheAccountHasASecret() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let secret = "whsec-" + String(repeating: "5e1d7a3c", count: 4)
        let secretFile = cli.dir.file("webhook-secret")
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: secretFile))
        let sim = try SimulatorProcess(["--webhook-secret-file", secretFile])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "a signed heron sim:duration=0.5", "a slow one sim:duration=60"]).status == 0)
        let (daemon, base) = try Self.startDaemon(cli, sim, ["--callback-secret-file", secretFile])
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { (try? cli.sqlite("SELECT state FROM jobs WHERE id = 1")) == "completed" })
        #expect(eventually(timeout: 10) { (try? cli.sqlite("SELECT remote_job_id IS NOT NULL FROM jobs WHERE id = 2")) == "1" })
        let stats = try await sim.stats()
        #expect((stats.number("callbacks", "delivered") ?? 0) >= 1 && stats.number("callbacks", "failed") == 0, "\(stats)")

        let token = try cli.sqlite("SELECT callback_token FROM jobs WHERE id = 2")
        let remote = try cli.sqlite("SELECT remote_job_id FROM jobs WHERE id = 2")
        let body = Data(#"{"job_id": "\#(remote)", "status": "completed"}"#.utf8)
        func post(timestamp: Date, signedWith key: String?) async throws -> Int {
            var headers = ["content-type": "application/json"]
            let stamp = String(Int(timestamp.timeIntervalSince1970))
            if let key {
                headers["x-legnext-timestamp"] = stamp
                headers["x-legnext-signature"] = HMACSignature.hex(secret: Data(key.utf8), timestamp: stamp, body: body)
            }
            return try await URLSessionLite.post(base + "/legnext/2/\(token)", body: body, headers: headers).1
        }
        #expect(try await post(timestamp: Date(), signedWith: nil) == 401, "unsigned")
        #expect(try await post(timestamp: Date(), signedWith: secret + "x") == 401, "another secret")
        #expect(try await post(timestamp: Date().addingTimeInterval(-600), signedWith: secret) == 401, "ten minutes old")
        // 600 s and the request's own delay (whole seconds, rounded down), read as the log arrives.
        #expect(
            eventually(timeout: 20) { daemon.errors.range(of: #"X-Legnext-Timestamp is 60[0-9] s away"#, options: .regularExpression) != nil },
            "\(daemon.errors)"
        )
        #expect(try await post(timestamp: Date(), signedWith: secret) == 202, "signed: heard (and confirmed with a GET)")
        #expect(!daemon.errors.contains(secret), "the secret stays out of the log")
        #expect(["pending", "processing"].contains(try cli.sqlite("SELECT state FROM jobs WHERE id = 2")))
    }

    @Test func badCallbackOptionsSayWhatToDo() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let environment = DaemonProcessTests.environment()
        let urlAlone = try cli.run(["run", "--callback-url", "https://q.example.com"], environment: environment)
        #expect(urlAlone.status == 64)
        #expect(urlAlone.stderr.contains("--callback-url needs --callback-listen"))
        let everywhere = try cli.run(["run", "--callback-listen", "0.0.0.0:8787"], environment: environment)
        #expect(everywhere.status == 64)
        #expect(everywhere.stderr.contains("give --callback-url"))
        #expect(try cli.run(["run", "--callback-listen", "8787"], environment: environment).status == 64)
        let secretAlone = try cli.run(["run", "--callback-secret-file", "/dev/null"], environment: environment)
        #expect(secretAlone.status == 64 && secretAlone.stderr.contains("goes with --callback-listen"), "\(secretAlone.stderr)")
    }
}
