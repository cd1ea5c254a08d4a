import Foundation
import QueueTestSupport

extension Bench {
    /// The repository, for the scripts the peers scenario runs.
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// 11. Side by side on one seed: the batch an operator would write around Legnext's official
    /// Python SDK (`Benchmarks/peers/sdk_batch.py`: C threads, `wait_for_completion` polling
    /// every 3 s scaled to 0.3 s) and legnext-queue, each on a fresh simulator whose plan runs C
    /// jobs at once, with diffusions as long as Legnext's scaled by 1/10 (median 4 s, σ 0.3).
    /// The SDK goes into a venv (`scripts/sdk-venv.sh`); without PyPI the rows say skipped.
    func peers() async throws -> [Row] {
        let jobs = quick ? 50 : 100
        let concurrency = 10
        let simulator = [
            "--duration-median", "4", "--duration-spread", "0.3", "--concurrency", String(concurrency), "--rate-limit", "50",
        ]
        let settings = "N=\(jobs) C=\(concurrency), plan \(concurrency), server 50 req/s, median 4s σ=0.3 (Legnext's ~40 s ÷ 10)"
        let venv = try Subprocess.run("/bin/bash", [Self.root + "/scripts/sdk-venv.sh"], timeout: 600)
        guard venv.status == 0 else {
            let why = venv.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return [Row(scenario: "11 peers", figure: "official SDK script", value: "skipped", target: "-", settings: why)]
        }
        let python = venv.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        struct Run {
            var makespan: TimeInterval
            var floor: TimeInterval
            var requestsPerJob: Double
            var rateLimited: Double
            var duplicates: Double
        }
        func measured(_ url: String, makespan: TimeInterval) async throws -> Run {
            let stats = try await stats(url)
            return Run(
                makespan: makespan,
                floor: ClairvoyantFloor.makespan(try await simulatorJobLengths(url), concurrency: concurrency),
                requestsPerJob: (stats.number("requests_total") ?? 0) / Double(jobs),
                rateLimited: stats.number("rate_limited") ?? 0,
                duplicates: stats.number("duplicate_submissions") ?? 0
            )
        }

        let sdk: Run
        do {
            let (sim, url) = try startSimulator(simulator)
            defer { stop(sim) }
            let result = try Subprocess.run(
                python,
                [Self.root + "/Benchmarks/peers/sdk_batch.py", url, String(jobs), String(concurrency), "0.3"],
                environment: environment,
                timeout: 3600
            )
            let fields = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard result.status == 0, fields.count == 2, let seconds = Double(fields[0]), Int(fields[1]) == jobs else {
                throw BenchError("the SDK script failed (\(result.status)): \(result.stdout) \(result.stderr.suffix(2000))")
            }
            sdk = try await measured(url, makespan: seconds)
        }
        let ours: Run
        do {
            let (sim, url) = try startSimulator(simulator)
            defer { stop(sim) }
            let db = freshDatabase("peers.db")
            try enqueue(db, count: jobs, prefix: "peers")
            // Its defaults: the plan's limit learned from active_tasks, and its lead.
            let makespan = try drainToIdle(db, url, ["--rate", "50"])
            ours = try await measured(url, makespan: makespan)
        }

        func rows(_ name: String, _ run: Run) -> [Row] {
            let scenario = "11 peers, " + name
            return [
                Row(scenario: scenario, figure: "makespan", value: format(run.makespan, 1) + " s", target: "-", settings: settings),
                Row(
                    scenario: scenario,
                    figure: "makespan ÷ clairvoyant floor",
                    value: format(run.makespan / run.floor, 3),
                    target: name == "legnext-queue" ? "≤ 1.02" : "-",
                    settings: "floor \(format(run.floor, 1)) s"
                ),
                Row(scenario: scenario, figure: "requests per job", value: format(run.requestsPerJob, 1), target: "-", settings: settings),
                Row(
                    scenario: scenario,
                    figure: "429s / duplicates",
                    value: "\(Int(run.rateLimited)) / \(Int(run.duplicates))",
                    target: name == "legnext-queue" ? "0 / 0" : "-",
                    settings: settings
                ),
            ]
        }
        return rows("SDK script", sdk) + rows("legnext-queue", ours) + [
            Row(
                scenario: "11 peers",
                figure: "makespan: ours ÷ SDK's",
                value: format(ours.makespan / sdk.makespan, 3),
                target: "≤ 0.98",
                settings: "same seed, same lengths in creation order"
            ),
            Row(
                scenario: "11 peers",
                figure: "requests: ours ÷ SDK's",
                value: format(ours.requestsPerJob / sdk.requestsPerJob, 3),
                target: "≤ 0.25",
                settings: "same seed, same lengths in creation order"
            ),
        ]
    }
}
