import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport

/// The scenarios. Each starts `legnext-sim` and `legnext-queue` as processes, as an operator would.
struct Bench {
    let dir: TemporaryDirectory
    let quick: Bool
    let seed: UInt64
    let queue = Subprocess.binary("legnext-queue")
    let simulator = Subprocess.binary("legnext-sim")

    struct Row {
        var scenario: String
        var figure: String
        var value: String
        var target: String
        var settings: String
    }

    func machineLine() -> String {
        let cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu); seed \(seed); \(quick ? "quick" : "full") run"
    }

    static func table(_ rows: [Row]) -> String {
        let header = Row(scenario: "scenario", figure: "figure", value: "measured", target: "target", settings: "settings")
        let all = [header] + rows
        func width(_ key: KeyPath<Row, String>) -> Int { all.map { $0[keyPath: key].count }.max() ?? 0 }
        let widths = [width(\.scenario), width(\.figure), width(\.value), width(\.target)]
        return all.map { row in
            [row.scenario, row.figure, row.value, row.target].enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "  " + row.settings
        }.joined(separator: "\n")
    }

    // MARK: Processes

    func startSimulator(_ arguments: [String]) throws -> (RunningProcess, String) {
        let process = try RunningProcess(simulator, ["--port", "0", "--seed", String(seed), "--log-level", "error"] + arguments)
        var url: String?
        _ = eventually(timeout: 20) {
            url = process.output.split(separator: "\n").first { $0.contains("listening on") }?.split(separator: " ").last.map(String.init)
            return url != nil
        }
        guard let url else { throw BenchError("legnext-sim did not start: \(process.errors)") }
        return (process, url)
    }

    func stop(_ process: RunningProcess) {
        process.signal(SIGTERM)
        process.wait(timeout: 30)
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LEGNEXT_API_KEY"] = "sim-key"
        return env
    }

    func freshDatabase(_ name: String) -> String {
        let path = dir.file(name)
        for suffix in ["", "-wal", "-shm", "-lock"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return path
    }

    func enqueue(_ db: String, count: Int, prefix: String) throws {
        let file = dir.file("\(prefix).txt")
        try (0..<count).map { "\(prefix) prompt \($0) --ar 3:2" }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Subprocess.run(queue, ["--db", db, "enqueue", "--file", file], timeout: 600)
        guard result.status == 0 else { throw BenchError("enqueue failed: \(result.stderr)") }
    }

    /// Runs the daemon with `--exit-when-idle`; returns the wall time it took.
    func drainToIdle(_ db: String, _ baseURL: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> TimeInterval {
        try drainMeasured(db, baseURL, arguments, environment: extra).wall
    }

    /// Like ``drainToIdle(_:_:_:)``, also returning the CPU seconds (user + system) the daemon used.
    func drainMeasured(
        _ db: String,
        _ baseURL: String,
        _ arguments: [String],
        environment extra: [String: String] = [:]
    ) throws -> (wall: TimeInterval, cpu: TimeInterval) {
        let cpuBefore = Self.childrenCPU()
        let started = Date()
        let result = try Subprocess.run(
            queue,
            ["--db", db, "run", "--base-url", baseURL, "--exit-when-idle", "--log-level", "warning"] + arguments,
            environment: environment.merging(extra) { $1 },
            timeout: 3600
        )
        guard result.status == 0 else { throw BenchError("the daemon failed: \(result.stderr.suffix(2000))") }
        return (Date().timeIntervalSince(started), Self.childrenCPU() - cpuBefore)
    }

    /// CPU seconds of the children this process has waited for.
    private static func childrenCPU() -> TimeInterval {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
        func seconds(_ time: timeval) -> TimeInterval { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    func stats(_ baseURL: String) async throws -> JSONValue { try await simulatorStats(baseURL) }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
