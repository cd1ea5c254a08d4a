import ArgumentParser
import Foundation
import LegnextAPI
import QueueTestSupport

/// `legnext-bench`: measures the figures of DESIGN §7 against the real binaries and prints one
/// table, each figure beside its target. Build in release mode for figures worth quoting.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legnext-bench",
        abstract: "Benchmarks of legnext-queue against legnext-sim (run from a release build)."
    )

    @Flag(help: "Small sizes, a couple of minutes in all.") var quick = false
    @Option(
        help:
            "Only these scenarios (comma-separated): drain, rate, throughput, enqueue, pickup, idle, million, chaos, settle, json, peers, console, pool."
    )
    var only: String?
    @Option(help: "Seed of the simulator.") var seed: UInt64 = 1
    @Option(help: "Keep the work folder here instead of a temporary one.") var workdir: String?

    func run() async throws {
        let scenarios = Set(
            (only ?? "drain,rate,throughput,enqueue,pickup,idle,million,chaos,settle,json,peers,console,pool").split(separator: ",").map(String.init)
        )
        let dir = try workdir.map { try TemporaryDirectory(at: $0) } ?? TemporaryDirectory("lnq-bench")
        defer { if workdir == nil { dir.remove() } }
        let bench = Bench(dir: dir, quick: quick, seed: seed)
        var rows: [Bench.Row] = []
        print(bench.machineLine())
        if scenarios.contains("drain") { rows += try await bench.drain() }
        if scenarios.contains("rate") { rows += try await bench.misconfiguredRate() }
        var cpuPerJob: Double?
        if scenarios.contains("throughput") {
            let (throughput, cpu) = try await bench.throughput()
            rows += throughput
            cpuPerJob = cpu
        }
        if scenarios.contains("enqueue") { rows += try bench.enqueue() }
        if scenarios.contains("pickup") { rows += try await bench.pickup() }
        if scenarios.contains("idle") { rows += try await bench.idle() }
        if scenarios.contains("million") { rows += try await bench.million() }
        if scenarios.contains("chaos") { rows += try await bench.chaos() }
        if scenarios.contains("settle") { rows += try await bench.settle() }
        if scenarios.contains("json") { rows += try await bench.json(cpuPerJob: cpuPerJob) }
        if scenarios.contains("peers") { rows += try await bench.peers() }
        if scenarios.contains("console") { rows += try await bench.console() }
        if scenarios.contains("pool") { rows += try await bench.pool() }
        print(Bench.table(rows))
    }
}
