import Foundation
import LegnextAPI
import QueueTestSupport

extension Bench {
    /// How the daemon learns of a job's end in a drain.
    enum DrainMode: String {
        /// Each job polled on its own: a server without `GET /account/active_tasks`.
        case polling
        /// Legnext's list of running jobs watched.
        case activeTasks = "active_tasks"
        case callbacks
    }

    /// 1. Drain N jobs on a plan of C, on the daemon's defaults: makespan against the clairvoyant
    /// floor, requests per job; each job polled, the list watched, callbacks, on the same seed.
    func drain() async throws -> [Row] {
        try await drain(.polling) + pollingBound() + drain(.activeTasks) + drain(.callbacks)
    }

    /// What no polling schedule can beat at σ 0.3 (see ``PollingBound``): the polling targets'
    /// makespan and request count cannot both be met.
    private func pollingBound() -> [Row] {
        let bound = PollingBound(sigma: 0.3)
        let atBudget = bound.lagShare(gets: 2)
        // Fewest GETs per job whose best schedule keeps lag within 10 % of a job's time.
        var low = 2.0
        var high = 6.0
        for _ in 0..<12 {
            let middle = (low + high) / 2
            if bound.lagShare(gets: middle) <= 0.10 { high = middle } else { low = middle }
        }
        let settings = "any polling schedule, log-normal σ=0.3, lag only (no submission time, no tail)"
        return [
            Row(
                scenario: "1 drain, bound",
                figure: "best ratio at 2 GETs per job",
                value: "≥ " + format(1 + atBudget, 3),
                target: "≤ 1.10",
                settings: settings
            ),
            Row(
                scenario: "1 drain, bound",
                figure: "requests per job for 1.10",
                value: "≥ " + format(1 + high, 2),
                target: "≤ 3",
                settings: settings
            ),
        ]
    }

    private func drain(_ mode: DrainMode) async throws -> [Row] {
        let jobs = quick ? 200 : 1000
        let concurrency = 10
        let median = quick ? 2.0 : 4.0
        let (sim, url) = try startSimulator(
            ["--duration-median", String(median), "--duration-spread", "0.3", "--rate-limit", "50", "--concurrency", String(concurrency)]
                + (mode == .polling ? ["--no-active-tasks"] : [])
        )
        defer { stop(sim) }
        let db = freshDatabase("drain-\(mode.rawValue).db")
        try enqueue(db, count: jobs, prefix: "drain")
        // The defaults: the plan's limit (learnt, or told where the list is missing) and its lead.
        let arguments: [String] =
            switch mode {
            case .polling: ["--plan-concurrency", String(concurrency)]
            case .activeTasks: []
            case .callbacks: ["--callback-listen", "127.0.0.1:0"]
            }
        let makespan = try drainToIdle(db, url, ["--rate", "50"] + arguments)
        let stats = try await stats(url)
        // A job holds its slot from creation to end at Legnext, its `pending` moments included.
        let ideal = (stats.number("job_time_sum") ?? 0) / Double(concurrency)
        let floor = ClairvoyantFloor.makespan(try await simulatorJobLengths(url), concurrency: concurrency)
        let requests = (stats.number("requests_total") ?? 0) / Double(jobs)
        let scenario = "1 drain, " + mode.rawValue
        let settings = "N=\(jobs), plan \(concurrency), log-normal median \(median)s σ=0.3, \(mode.rawValue)"
        return [
            Row(
                scenario: scenario,
                figure: "makespan ÷ clairvoyant floor",
                value: format(makespan / floor, 3),
                target: "≤ 1.02",
                settings: settings + "; makespan \(format(makespan, 1)) s, floor \(format(floor, 1)) s (FIFO at C, no lag)"
            ),
            Row(
                scenario: scenario,
                figure: "makespan ÷ (Σ job times ÷ C)",
                value: format(makespan / ideal, 3),
                target: "-",
                settings: settings + "; not a reachable bound (the last wave's spread)"
            ),
            Row(scenario: scenario, figure: "requests per job", value: format(requests), target: "-", settings: settings),
            Row(scenario: scenario, figure: "429s", value: format(stats.number("rate_limited") ?? 0, 0), target: "0", settings: settings),
            Row(
                scenario: scenario,
                figure: "duplicate submissions",
                value: format(stats.number("duplicate_submissions") ?? 0, 0),
                target: "0",
                settings: settings
            ),
        ]
    }

    /// 2. The daemon told twice the server's real rate.
    func misconfiguredRate() async throws -> [Row] {
        let jobs = quick ? 150 : 600
        let (sim, url) = try startSimulator(["--duration-median", "1", "--duration-spread", "0.3", "--rate-limit", "10"])
        defer { stop(sim) }
        let db = freshDatabase("rate.db")
        try enqueue(db, count: jobs, prefix: "rate")
        let makespan = try drainToIdle(db, url, ["--concurrency", "20", "--rate", "20"])
        let stats = try await stats(url)
        let share = (stats.number("rate_limited") ?? 0) / max(1, stats.number("requests_total") ?? 1)
        let settings = "N=\(jobs) C=20, server 10 req/s, daemon told 20 req/s"
        return [
            Row(scenario: "2 rate ×2", figure: "429 share of requests", value: format(share * 100, 1) + " %", target: "small", settings: settings),
            Row(scenario: "2 rate ×2", figure: "makespan", value: format(makespan, 1) + " s", target: "-", settings: settings),
        ]
    }

    /// 3. Engine throughput: zero-duration jobs, no limits.
    /// Returns the rows and the daemon's CPU per job in ms.
    func throughput() async throws -> ([Row], Double) {
        let jobs = quick ? 5000 : 20000
        // Median of three runs, each with a fresh simulator and queue: one run swings ±8 %.
        var runs: [(rate: Double, cpu: Double)] = []
        for _ in 0..<(quick ? 1 : 3) {
            let (sim, url) = try startSimulator(["--duration-median", "0", "--duration-spread", "0"])
            defer { stop(sim) }
            let db = freshDatabase("throughput.db")
            try enqueue(db, count: jobs, prefix: "fast")
            let (makespan, cpu) = try drainMeasured(db, url, ["--concurrency", "512", "--rate", "0"])
            runs.append((Double(jobs) / makespan, cpu))
        }
        let rate = runs.map(\.rate).sorted()[runs.count / 2]
        let cpu = runs.map(\.cpu).sorted()[runs.count / 2]
        let settings = "N=\(jobs) C=512, zero-duration jobs, no rate limit, loopback, median of \(runs.count)"
        let rows = [
            Row(
                scenario: "3 throughput",
                figure: "jobs/s end to end",
                value: format(rate, 0) + (runs.count > 1 ? " (\(runs.map { format($0.rate, 0) }.joined(separator: ", ")))" : ""),
                target: "≥ 2000",
                settings: settings
            ),
            Row(
                scenario: "3 throughput",
                figure: "daemon CPU per job",
                value: format(cpu / Double(jobs) * 1000, 2) + " ms",
                target: "-",
                settings: "user + system time of the daemon process (the simulator shares the cores)"
            ),
        ]
        return (rows, cpu / Double(jobs) * 1000)
    }

    /// 4. `enqueue --file` of 100,000 prompts beside the sqlite3 shell's `.import`.
    func enqueue() throws -> [Row] {
        let count = 100_000
        let file = dir.file("enqueue.txt")
        try (0..<count).map { "prompt \($0): a watercolor fox in the snow --ar 3:2" }.joined(separator: "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        var ours: [Double] = []
        var shell: [Double] = []
        var shellIntoQueue: [Double] = []
        for _ in 0..<3 {
            let db = freshDatabase("enqueue.db")
            // Each timed command starts with nothing of the earlier ones (or earlier scenarios)
            // waiting to be written back: its own fsyncs wait for its own data only.
            sync()
            let started = Date()
            let result = try Subprocess.run(queue, ["--db", db, "enqueue", "--file", file], timeout: 600)
            guard result.status == 0 else { throw BenchError("enqueue failed: \(result.stderr)") }
            ours.append(Date().timeIntervalSince(started))
            if let sqlite3 = Subprocess.sqlite3 {
                let bare = freshDatabase("bare.db")
                _ = try Subprocess.run(sqlite3, [bare, "CREATE TABLE t(prompt TEXT);"])
                sync()
                let begun = Date()
                _ = try Subprocess.run(sqlite3, [bare, ".import \(file) t"])
                shell.append(Date().timeIntervalSince(begun))
                // The floor SQLite itself sets for this schema: the shell moving the same lines
                // into a migrated queue's jobs table (indexes, rules, WAL and its checkpoint).
                let migrated = freshDatabase("shell-queue.db")
                _ = try Subprocess.run(queue, ["--db", migrated, "migrate"])
                sync()
                let into = Date()
                let loaded = try Subprocess.run(
                    sqlite3,
                    [migrated, "CREATE TEMP TABLE t(prompt TEXT);", ".import \(file) t", "INSERT INTO jobs(prompt) SELECT prompt FROM t;"]
                )
                guard loaded.status == 0 else { throw BenchError("the shell's insert failed: \(loaded.stderr)") }
                shellIntoQueue.append(Date().timeIntervalSince(into))
            }
        }
        let best = ours.min()!
        var rows = [
            Row(
                scenario: "4 enqueue",
                figure: "rows/s (best of 3)",
                value: format(Double(count) / best, 0),
                target: "≥ 100000",
                settings: "100,000 plain prompts, one transaction, whole command"
            )
        ]
        func ratio(_ figure: String, _ times: [Double], target: String, settings: String) {
            guard let other = times.min() else { return }
            let value = format(best / other, 2) + "× (\(format(best, 2)) s vs \(format(other, 2)) s)"
            rows.append(Row(scenario: "4 enqueue", figure: figure, value: value, target: target, settings: settings))
        }
        ratio("time ÷ sqlite3 .import", shell, target: "≤ 3×", settings: ".import into a bare one-column table")
        ratio(
            "time ÷ sqlite3 into jobs",
            shellIntoQueue,
            target: "-",
            settings: "the shell: .import to a temp table, INSERT INTO jobs(prompt) SELECT"
        )
        return rows
    }

    /// 5. Pick-up of rows inserted with the sqlite3 shell by an idle daemon.
    func pickup() async throws -> [Row] {
        guard let sqlite3 = Subprocess.sqlite3 else { return [] }
        let samples = quick ? 20 : 100
        let (sim, url) = try startSimulator(["--duration-median", "0.1"])
        defer { stop(sim) }
        let db = freshDatabase("pickup.db")
        _ = try Subprocess.run(queue, ["--db", db, "migrate"])
        let daemon = try RunningProcess(
            queue,
            // Free slots, so the figure is the time to notice and claim a row, not a wait for a
            // slot: at the default concurrency of 4, the first jobs (polled at 1 s before any
            // duration is known) held every slot and rows queued behind them for up to 0.6 s.
            ["--db", db, "run", "--base-url", url, "--rate", "0", "--concurrency", "32", "--log-level", "warning"],
            environment: environment
        )
        defer { stop(daemon) }
        try await Task.sleep(for: .seconds(1))
        for index in 0..<samples {
            _ = try Subprocess.run(sqlite3, [db, ".timeout 5000", "INSERT INTO jobs(prompt) VALUES ('pickup \(index)');"])
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...400)))
        }
        try await Task.sleep(for: .seconds(1))
        let query = """
            SELECT (julianday(e.at) - julianday(j.created_at)) * 86400000 FROM jobs j
            JOIN job_events e ON e.job_id = j.id AND e.to_state = 'submitting' ORDER BY 1
            """
        let latencies = try Subprocess.run(sqlite3, [db, query]).stdout.split(separator: "\n").compactMap { Double($0) }
        guard latencies.count == samples else { throw BenchError("only \(latencies.count) of \(samples) rows were picked up") }
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let settings = "\(samples) rows inserted by sqlite3 into an idle daemon's queue, C=32"
        return [
            Row(scenario: "5 pick-up", figure: "p50", value: format(percentile(0.5), 0) + " ms", target: "-", settings: settings),
            Row(scenario: "5 pick-up", figure: "p99", value: format(percentile(0.99), 0) + " ms", target: "≤ 250 ms", settings: settings),
        ]
    }

    /// 6. CPU and memory of an idle daemon.
    func idle() async throws -> [Row] {
        let seconds = quick ? 10.0 : 30.0
        let (sim, url) = try startSimulator([])
        defer { stop(sim) }
        let db = freshDatabase("idle.db")
        _ = try Subprocess.run(queue, ["--db", db, "migrate"])
        let daemon = try RunningProcess(queue, ["--db", db, "run", "--base-url", url, "--log-level", "warning"], environment: environment)
        defer { stop(daemon) }
        try await Task.sleep(for: .seconds(2))
        let before = try ProcStat(pid: daemon.pid)
        try await Task.sleep(for: .seconds(seconds))
        let after = try ProcStat(pid: daemon.pid)
        let cpu = Double(after.cpuTicks - before.cpuTicks) / ProcStat.ticksPerSecond / seconds * 100
        let settings = "daemon with an empty queue, \(Int(seconds)) s from /proc"
        return [
            Row(scenario: "6 idle", figure: "CPU of one core", value: format(cpu, 2) + " %", target: "≤ 0.5 %", settings: settings),
            Row(scenario: "6 idle", figure: "RSS", value: format(Double(after.rssKiB) / 1024, 1) + " MB", target: "-", settings: settings),
        ]
    }

    /// 7. A million queued rows: daemon start-up, its memory, and `status`.
    func million() async throws -> [Row] {
        let count = quick ? 200_000 : 1_000_000
        let db = freshDatabase("million.db")
        let file = dir.file("million.txt")
        try (0..<count).map { "queued prompt \($0)" }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        _ = try Subprocess.run(queue, ["--db", db, "enqueue", "--file", file], timeout: 1200)
        var statusTimes: [Double] = []
        for _ in 0..<5 {
            let started = Date()
            _ = try Subprocess.run(queue, ["--db", db, "status"])
            statusTimes.append(Date().timeIntervalSince(started))
        }
        // Start-up: until the daemon row says it is alive, against a simulator that refuses every
        // key (so nothing is submitted and the queue stays a million deep).
        let (sim, url) = try startSimulator(["--api-key", "another-key"])
        defer { stop(sim) }
        let started = Date()
        let daemon = try RunningProcess(queue, ["--db", db, "run", "--base-url", url, "--log-level", "warning"], environment: environment)
        defer { stop(daemon) }
        var startup = 0.0
        _ = eventually(timeout: 60) {
            let out = (try? Subprocess.run(queue, ["--db", db, "status", "--json"]).stdout) ?? ""
            if out.contains("\"running\" : true") {
                startup = Date().timeIntervalSince(started)
                return true
            }
            return false
        }
        try await Task.sleep(for: .seconds(2))
        let rss = (try? ProcStat(pid: daemon.pid).rssKiB) ?? 0
        let settings = "\(count) queued rows"
        return [
            Row(scenario: "7 million", figure: "daemon start-up", value: format(startup, 2) + " s", target: "≤ 1 s", settings: settings),
            Row(scenario: "7 million", figure: "daemon RSS", value: format(Double(rss) / 1024, 1) + " MB", target: "≤ 64 MB", settings: settings),
            Row(
                scenario: "7 million",
                figure: "status (best of 5)",
                value: format(statusTimes.min()! * 1000, 0) + " ms",
                target: "≤ 100 ms",
                settings: settings
            ),
        ]
    }
}

/// CPU time and resident memory of a process, from /proc.
struct ProcStat {
    var cpuTicks: Int
    var rssKiB: Int
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    init(pid: Int32) throws {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        cpuTicks = (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }
}
