import Foundation
import QueueTestSupport

extension Bench {
    /// 13. A pool of accounts: the same real-length batch drained by one account on a plan of 6,
    /// then by two such accounts (`--account a --account b`), each on a fresh simulator of the
    /// same seed. Each run against its own floor: FIFO at 6, and at 12 slots for the two.
    func pool() async throws -> [Row] {
        let jobs = quick ? 240 : 600
        let plan = 6
        let common = ["--duration-median", "4", "--duration-spread", "0.3", "--rate-limit", "50", "--concurrency", String(plan)]
        var makespans: [Int: Double] = [:]
        var rows: [Row] = []
        for accounts in [1, 2] {
            let (sim, url) = try startSimulator(common + (accounts == 2 ? ["--account", "name=b,key=sim-key-b,concurrency=\(plan),rate=50"] : []))
            defer { stop(sim) }
            let db = freshDatabase("pool-\(accounts).db")
            try enqueue(db, count: jobs, prefix: "pool")
            let arguments = accounts == 2 ? ["--rate", "50", "--account", "a", "--account", "b"] : ["--rate", "50"]
            let makespan = try drainToIdle(db, url, arguments, environment: ["LEGNEXT_API_KEY_A": "sim-key", "LEGNEXT_API_KEY_B": "sim-key-b"])
            makespans[accounts] = makespan
            let stats = try await stats(url)
            let floor = ClairvoyantFloor.makespan(try await simulatorJobLengths(url), concurrency: plan * accounts)
            let scenario = "13 pool, \(accounts) account\(accounts == 1 ? "" : "s")"
            let settings = "N=\(jobs), plan \(plan) each, median 4s σ=0.3 (Legnext's ~40 s scaled 1/10), rate 50 each"
            rows += [
                Row(
                    scenario: scenario,
                    figure: "makespan ÷ clairvoyant floor",
                    value: format(makespan / floor, 3),
                    target: accounts == 2 ? "≤ 1.03" : "-",
                    settings: settings + "; makespan \(format(makespan, 1)) s, floor \(format(floor, 1)) s (FIFO at \(plan * accounts))"
                ),
                Row(
                    scenario: scenario,
                    figure: "429s, duplicates",
                    value: "\(format(stats.number("rate_limited") ?? 0, 0)), \(format(stats.number("duplicate_submissions") ?? 0, 0))",
                    target: "0, 0",
                    settings: settings
                ),
            ]
            if accounts == 2 {
                let a = stats.number("accounts", "default", "jobs_created") ?? 0
                let b = stats.number("accounts", "b", "jobs_created") ?? 0
                rows.append(
                    Row(scenario: scenario, figure: "jobs on a, on b", value: "\(format(a, 0)), \(format(b, 0))", target: "-", settings: settings)
                )
            }
        }
        if let one = makespans[1], let two = makespans[2] {
            rows.append(
                Row(
                    scenario: "13 pool",
                    figure: "two accounts' makespan ÷ one's",
                    value: format(two / one, 3),
                    target: "about 0.5",
                    settings: "same N, seed and plans"
                )
            )
        }
        return rows
    }
}
