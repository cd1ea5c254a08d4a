import Foundation
import LegnextAPI
import LegnextSimulator
import QueueTestSupport

extension Bench {
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

        func scalar(_ sql: String) throws -> Int {
            Int(try Subprocess.run(sqlite3, [db, sql]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
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
                target: "few",
                settings: "left for `retry`; each may or may not exist remotely"
            ),
            Row(
                scenario: "8 chaos",
                figure: "remote jobs not in our rows",
                value: String(created - tracked),
                target: "≤ uncertain",
                settings: "jobs_created \(created) − distinct remote ids \(tracked)"
            ),
            Row(scenario: "8 chaos", figure: "PRAGMA integrity_check", value: integrity, target: "ok", settings: settings),
        ]
    }
}
