import Foundation
import LegnextAPI
import LegnextSimulator
import QueueTestSupport

extension Bench {
    /// One integer the `sqlite3` shell reads from queue `db` (-1 if it printed none).
    static func scalar(_ sqlite3: String, _ db: String, _ sql: String) throws -> Int {
        Int(try Subprocess.run(sqlite3, [db, sql]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// 8. kill -9 at random moments through a drain, restarting each time, then a clean drain:
    /// lost jobs, duplicate submissions, jobs left uncertain, remote jobs we lost track of.
    func chaos() async throws -> [Row] {
        guard let sqlite3 = Subprocess.sqlite3 else { return [] }
        let jobs = quick ? 300 : 1000
        let kills = quick ? 10 : 30
        let (sim, url) = try startSimulator(["--duration-median", "1", "--duration-spread", "0.5", "--latency", "20", "--rate-limit", "100"])
        defer { stop(sim) }
        let db = freshDatabase("chaos.db")
        try enqueue(db, count: jobs, prefix: "chaos")
        var random = SimulatorRandom(seed: seed)
        let arguments = ["--db", db, "run", "--base-url", url, "--concurrency", "20", "--rate", "100", "--log-level", "error"]
        for _ in 0..<kills {
            let daemon = try RunningProcess(queue, arguments, environment: environment)
            try await Task.sleep(for: .milliseconds(Int(random.next() % 1500) + 100))
            kill(daemon.pid, SIGKILL)
            daemon.wait(timeout: 10)
        }
        _ = try drainToIdle(db, url, Array(arguments.dropFirst(5)))

        func scalar(_ sql: String) throws -> Int { try Self.scalar(sqlite3, db, sql) }
        let rows = try scalar("SELECT count(*) FROM jobs")
        let ended = try scalar("SELECT count(*) FROM jobs WHERE state IN ('completed', 'failed', 'uncertain')")
        let uncertain = try scalar("SELECT count(*) FROM jobs WHERE state = 'uncertain'")
        let tracked = try scalar("SELECT count(DISTINCT remote_job_id) FROM jobs")
        let integrity = try Subprocess.run(sqlite3, [db, "PRAGMA integrity_check;"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let stats = try await stats(url)
        let created = Int(stats.number("jobs_created") ?? 0)
        let settings = "N=\(jobs), \(kills) kill -9 at random moments (0.1–1.6 s), C=20, durations median 1s σ=0.5"
        return [
            Row(scenario: "8 chaos", figure: "lost jobs", value: String(jobs - min(rows, ended)), target: "0", settings: settings),
            Row(
                scenario: "8 chaos",
                figure: "duplicate submissions",
                value: format(stats.number("duplicate_submissions") ?? -1, 0),
                target: "0",
                settings: settings
            ),
            Row(
                scenario: "8 chaos",
                figure: "uncertain jobs (killed mid-POST)",
                value: String(uncertain),
                target: "≤ 2",
                settings: "left after settling by looking at active_tasks; each may or may not exist remotely"
            ),
            Row(
                scenario: "8 chaos",
                figure: "remote jobs not in our rows",
                value: String(created - tracked),
                target: "0",
                settings: "jobs_created \(created) − distinct remote ids \(tracked)"
            ),
            Row(scenario: "8 chaos", figure: "PRAGMA integrity_check", value: integrity, target: "ok", settings: settings),
        ]
    }
}

extension Bench {
    /// 9. Lost answers settled by looking (issue 18): drains with 5 % 5xx, 3 % dropped answers,
    /// and both with 2 % unreadable answers, at Legnext's documented lengths time-scaled 1/20;
    /// the same mixed run with `--no-auto-settle` for the old figure.
    func settle() async throws -> [Row] {
        guard let sqlite3 = Subprocess.sqlite3 else { return [] }
        let jobs = quick ? 40 : 100
        var rows: [Row] = []
        let runs: [(name: String, faults: [String], extra: [String])] = [
            ("5 % 5xx", ["--error-rate", "0.05"], []),
            ("3 % drops", ["--drop-rate", "0.03"], []),
            ("mixed", ["--error-rate", "0.05", "--drop-rate", "0.03", "--malformed-rate", "0.02"], []),
            ("mixed, --no-auto-settle", ["--error-rate", "0.05", "--drop-rate", "0.03", "--malformed-rate", "0.02"], ["--no-auto-settle"]),
        ]
        for run in runs {
            let (sim, url) = try startSimulator(["--time-scale", "0.05", "--seed", String(seed)] + run.faults)
            defer { stop(sim) }
            let db = freshDatabase("settle.db")
            try enqueue(db, count: jobs, prefix: "settle")
            let wall = try drainToIdle(db, url, ["--concurrency", "10", "--rate", "0", "--max-attempts", "20"] + run.extra)
            func scalar(_ sql: String) throws -> Int { try Self.scalar(sqlite3, db, sql) }
            let uncertain = try scalar("SELECT count(*) FROM jobs WHERE state = 'uncertain'")
            let completed = try scalar("SELECT count(*) FROM jobs WHERE state = 'completed'")
            let tracked = try scalar("SELECT count(DISTINCT remote_job_id) FROM jobs")
            let adopted = try scalar("SELECT count(*) FROM job_events WHERE detail LIKE 'settled: Legnext job % found among%'")
            let resent = try scalar("SELECT count(*) FROM job_events WHERE detail LIKE 'not created: %'")
            let stats = try await stats(url)
            let created = Int(stats.number("jobs_created") ?? 0)
            let duplicates = Int(stats.number("duplicate_submissions") ?? -1)
            rows.append(
                Row(
                    scenario: "9 settle",
                    figure: "\(run.name): uncertain / duplicates / not in our rows",
                    value: "\(uncertain) / \(duplicates) / \(created - tracked)",
                    target: run.extra.isEmpty ? "0 / 0 / 0" : "— / 0 / ≤ uncertain",
                    settings:
                        "N=\(jobs), C=10, --time-scale 0.05, \(completed) completed, \(adopted) adopted from active_tasks, \(resent) resent as not created, \(format(wall, 1)) s"
                )
            )
        }
        return rows
    }
}
