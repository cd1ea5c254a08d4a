import Foundation
import LegnextAPI
import QueueTestSupport
import Testing

/// The Prometheus endpoint scraped and parsed; `watch` on a pseudo-terminal and on a pipe.
@Suite(.serialized) struct ObservabilityTests {
    /// `name{labels}` → value, from Prometheus text; every sample line must parse.
    static func parsePrometheus(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw CLITestError("not a sample line: \(line)")
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// An address already taken (for `/metrics` or for callbacks) stops the daemon with a message
    /// that says what to do, before any job is taken.
    @Test func anAddressInUseStopsTheDaemonBeforeAnyJobIsTaken() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "a fox in the snow"]).status == 0)
        try await HTTPReceiver().run { taken in
            let address = String(taken.dropFirst("http://".count))
            for option in ["--metrics-listen", "--callback-listen"] {
                let result = try cli.run(["run", "--simulate", option, address, "--exit-when-idle"])
                #expect(result.status == 78, "\(option): \(result.stderr)")
                #expect(result.stderr.contains("on \(address)") && result.stderr.contains("choose another address"), "\(result.stderr)")
                #expect(!result.stderr.contains("draining"), "no job is taken: \(result.stderr)")
            }
        }
        #expect(try cli.count("queued") == 1)
    }

    @Test func theMetricsEndpointIsScrapedAndParsed() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "0.3", "--duration-spread", "0.1"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "one", "two", "three", "doomed sim:fail", "refused sim:reject=422"]).status == 0)
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "3", "--metrics-listen", "127.0.0.1:0"],
            environment: DaemonProcessTests.environment()
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        var url: String?
        #expect(
            eventually(timeout: 30) {
                url = daemon.errors.split(separator: "\n").first { $0.contains("serving metrics on") }?.split(separator: " ").last.map(String.init)
                return url != nil
            },
            "\(daemon.errors)"
        )
        let endpoint = try #require(url)
        #expect(eventually(timeout: 60) { (try? cli.count("completed")) == 3 && (try? cli.count("failed")) == 2 })
        // The heartbeat refreshes the gauges every couple of seconds: wait for one after the drain.
        var samples: [String: Double] = [:]
        var text = ""
        let settled = try await eventuallyAsync(timeout: 20) {
            let (body, status) = try await URLSessionLite.get(endpoint)
            guard status == 200 else { return false }
            text = String(decoding: body, as: UTF8.self)
            samples = try Self.parsePrometheus(text)
            return samples[#"legnext_queue_in_flight{account="default"}"#] == 0
        }
        #expect(settled, "\(text)")
        #expect(samples[#"legnext_queue_jobs{state="completed"}"#] == 3)
        #expect(samples[#"legnext_queue_jobs{state="failed"}"#] == 2)
        #expect(samples[#"legnext_queue_jobs{state="queued"}"#] == 0)
        #expect(samples[#"legnext_queue_requests_total{account="default",endpoint="POST /v1/diffusion",status="200"}"#] == 4)
        #expect(samples[#"legnext_queue_requests_total{account="default",endpoint="POST /v1/diffusion",status="422"}"#] == 1)
        #expect((samples[#"legnext_queue_requests_total{account="default",endpoint="GET /v1/job",status="200"}"#] ?? 0) >= 4)
        #expect(samples[#"legnext_queue_jobs_finished_total{account="default",state="completed",kind="diffusion"}"#] == 3)
        #expect(
            samples[#"legnext_queue_jobs_finished_total{account="default",state="failed",kind="diffusion"}"#] == 1,
            "failed at Legnext (the 422 never started)"
        )
        // Durations and lags of every job that ran at Legnext, the failed one included.
        #expect(samples["legnext_queue_job_duration_seconds_count"] == 4)
        #expect(samples["legnext_queue_completion_lag_seconds_count"] == 4)
        #expect(samples[#"legnext_queue_credits_consumed_total{account="default"}"#] == 240)
        #expect(samples[#"legnext_queue_paused{account="default"}"#] == 0)
        #expect(samples[#"legnext_queue_concurrency_limit{account="default"}"#] == 3)
        #expect(!text.contains("legnext_queue_rate_limited_total{"), "no 429 yet, so no series")
        for name in ["legnext_queue_jobs", "legnext_queue_requests_total", "legnext_queue_job_duration_seconds", "legnext_queue_in_flight"] {
            #expect(text.contains("# TYPE \(name) "), "\(name) declares its type")
        }
    }

    @Test func watchRedrawsInPlaceOnATerminalAndLeavesOnCtrlC() async throws {
        let script = try #require(["/usr/bin/script", "/bin/script"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "a", "b", "c"]).status == 0)
        let transcript = cli.dir.file("tty.out")
        // `exec`: script runs the command through $SHELL, and dash (CI's /bin/sh) would otherwise
        // take the Ctrl-C itself and report 130 whatever watch did.
        let watch = try RunningProcess(script, ["-qfec", "exec \(CLIFixture.binary) --db \(cli.db) watch --interval 0.1", transcript])
        let read = { (try? String(contentsOfFile: transcript, encoding: .utf8)) ?? "" }
        #expect(eventually(timeout: 30) { read().components(separatedBy: "queued 3").count > 3 }, "several drawings: \(read())")
        watch.write("\u{03}")  // Ctrl-C, as the terminal's line discipline turns it into SIGINT
        let result = watch.wait(timeout: 20)
        #expect(result.status == 0, "\(read())")
        let output = read()
        #expect(output.contains("\u{1B}[?25l"), "hides the cursor while redrawing")
        #expect(output.contains("\u{1B}[4F"), "moves up over the last drawing instead of scrolling")
        #expect(output.contains("[" + String(repeating: ".", count: 50) + "]   0.0%  0/3"))
        #expect(output.contains("daemon not running"))
        #expect(output.contains("\u{1B}[?25h"), "gives the cursor back on Ctrl-C")
        #expect(output.contains(#"COMMAND_EXIT_CODE="0""#))
    }

    @Test func watchPrintsPlainLinesIntoAPipe() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "a", "b"]).status == 0)
        let watch = try RunningProcess(CLIFixture.binary, ["--db", cli.db, "watch", "--interval", "0.1"])
        #expect(eventually(timeout: 20) { watch.output.contains("0/2") })
        #expect(try cli.run(["cancel", "1"]).status == 0)
        #expect(eventually(timeout: 20) { watch.output.contains("1/2") }, "a new line when something changed")
        watch.signal(SIGINT)
        let result = watch.wait(timeout: 20)
        #expect(result.status == 0)
        #expect(!result.stdout.contains("\u{1B}"), "no terminal codes in a pipe")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2, "one line per change, not per tick: \(lines)")
        #expect(lines.last?.contains("cancelled 1") == true)
    }
}
