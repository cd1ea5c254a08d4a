import Foundation
import LegnextAPI
import QueueTestSupport
import Testing

/// The queue's filesystem fills up under a running daemon: a real full disk (a small tmpfs),
/// not an injected error.
@Suite(.serialized) struct DiskFullTests {
    /// Whether this machine lets the tests mount a small tmpfs (root, or CAP_SYS_ADMIN).
    static let canMount: Bool = {
        guard let dir = try? TemporaryDirectory("mount-probe") else { return false }
        defer { dir.remove() }
        guard (try? Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path]))?.status == 0 else { return false }
        return (try? Subprocess.run("/bin/umount", [dir.path]))?.status == 0
    }()

    /// Fills the filesystem holding `path` with one file of zeros until the kernel says ENOSPC.
    static func fill(_ path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        let chunk = Data(count: 4096)
        while (try? file.write(contentsOf: chunk)) != nil {}
    }

    /// Completions that arrive while nothing can be written are kept, retried with backoff and
    /// written once space is back; `--exit-when-idle` does not leave with them unwritten; the
    /// daemon says "disk full" once (log, status line, `status`) instead of once per write.
    @Test(.enabled(if: canMount && Subprocess.sqlite3 != nil, "skipped: needs root to mount a small tmpfs, and the sqlite3 shell"))
    func aFullDiskLosesNothingAndSaysSoOnce() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", cli.dir.path]).status == 0)
        defer { _ = try? Subprocess.run("/bin/umount", ["-l", cli.dir.path]) }
        // The first ten long enough that the disk is full before they end, however slow the start.
        let sim = try SimulatorProcess(["--duration-median", "8", "--duration-spread", "0.1"])
        defer { sim.stop() }
        let prompts = (0..<20).map { "fox \($0)" + ($0 < 10 ? "" : " sim:duration=0.5") }
        #expect(try cli.run(["enqueue", "--file", "-"], input: prompts.joined(separator: "\n")).status == 0)
        let daemon = try RunningProcess(
            CLIFixture.binary,
            [
                "--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "10", "--exit-when-idle",
                "--output-dir", cli.dir.file("outputs"), "--download-hosts", "127.0.0.1", "--log-level", "notice",
            ],
            environment: DaemonProcessTests.environment()
        )
        defer { daemon.signal(SIGKILL) }
        #expect(eventually(timeout: 30) { (try? cli.json(["status"])["in_flight"]?.intValue) == 10 }, "\(daemon.errors)")

        let filler = cli.dir.file("filler")
        try Self.fill(filler)
        // The first ten end at Legnext while their ends cannot be written.
        #expect(try await eventuallyAsync(timeout: 60) { (try await sim.stats().number("jobs_completed") ?? 0) >= 10 })
        #expect(eventually(timeout: 60) { daemon.errors.contains("disk full") }, "\(daemon.errors)")
        try await Task.sleep(for: .seconds(3))  // room for a wrong idle exit or a hot loop to show
        #expect(daemon.isRunning, "not idle while what it knows is unwritten: \(daemon.errors)")
        let status = try cli.run(["status"])
        #expect(status.stdout.contains("DISK FULL"), "\(status.stdout)")

        try FileManager.default.removeItem(atPath: filler)
        let run = daemon.wait(timeout: 180)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try cli.sqlite("SELECT group_concat(DISTINCT state) || ' ' || count(*) FROM jobs") == "completed 20", "\(run.stderr)")
        #expect(try cli.sqlite("SELECT count(*) FROM job_outputs WHERE download_state = 'done'") == "100", "\(run.stderr)")
        let stats = try await sim.stats()
        #expect(stats.number("jobs_created") == 20, "nothing sent twice")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("disk full:") }.count == 1, "said once: \(run.stderr)")
        #expect(lines.count < 60, "a bounded log, not a line per retry: \(lines.count) lines")
        #expect(!run.stderr.contains("cannot record"), "\(run.stderr)")
    }
}
