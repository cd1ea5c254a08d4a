import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Testing

/// Running under systemd: sd_notify, the watchdog, journal logs, the unit file, `make install`.
@Suite(.serialized) struct SystemdTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let unitPath = root + "/systemd/legnext-queue.service"
    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let make = ["/usr/bin/make", "/bin/make"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `Key=value` lines of the unit's [Service] section, in order.
    static func unitSettings() throws -> [(key: String, value: String)] {
        try String(contentsOfFile: unitPath, encoding: .utf8).split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }

    @Test func theNotifierSpeaksTheProtocol() throws {
        let dir = try TemporaryDirectory("notify")
        defer { dir.remove() }
        let listener = try NotifyListener(path: dir.file("notify.sock"))
        defer { listener.stop() }
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "3000000"]))
        #expect(notifier.watchdogInterval == 1.5)
        notifier.ready(status: "started\nsecond line")
        notifier.watchdog()
        notifier.stopping()
        #expect(eventually(timeout: 5) { listener.messages.count == 3 })
        #expect(listener.messages.map(\.text) == ["READY=1\nSTATUS=started second line", "WATCHDOG=1", "STOPPING=1"])

        #expect(SystemdNotifier(environment: [:]) == nil, "nothing to talk to without NOTIFY_SOCKET")
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]) == nil)
        let otherPid = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"]))
        #expect(otherPid.watchdogInterval == nil, "the watchdog is meant for another process")
    }

    @Test func anAbstractSocketWorksToo() throws {
        let name = "legnext-queue-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let listener = try NotifyListener(path: "\0" + name)
        defer { listener.stop() }
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name]))
        #expect(notifier.send("READY=1"))
        #expect(eventually(timeout: 5) { listener.messages.map(\.text) == ["READY=1"] })
    }

    /// The daemon started as the unit starts it: its ExecStart and Environment, a state directory,
    /// the key as a credential, the journal and notify sockets. It drains jobs, reports READY,
    /// STATUS and WATCHDOG, logs journal lines, and says STOPPING on SIGTERM.
    @Test func theDaemonStartedLikeTheUnitDrainsAndReports() async throws {
        let dir = try TemporaryDirectory("unit")
        defer { dir.remove() }
        let secret = "k-\(UUID().uuidString)"
        let sim = try SimulatorProcess(["--api-key", secret, "--duration-median", "0.3", "--duration-spread", "0.1"])
        defer { sim.stop() }
        let state = dir.file("state")
        let credentials = dir.file("credentials")
        try FileManager.default.createDirectory(atPath: state + "/legnext-queue", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try Data((secret + "\n").utf8).write(to: URL(fileURLWithPath: credentials + "/legnext-api-key"))
        chmod(credentials + "/legnext-api-key", 0o400)
        let listener = try NotifyListener(path: dir.file("notify.sock"))
        defer { listener.stop() }

        let settings = try Self.unitSettings()
        var environment = [
            "PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": credentials, "STATE_DIRECTORY": state + "/legnext-queue",
            "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000", "JOURNAL_STREAM": "8:123456",
            "LEGNEXT_BASE_URL": sim.baseURL, "LEGNEXT_QUEUE_OPTIONS": "--rate 0 --concurrency 4",
        ]
        for (key, value) in settings where key == "Environment" {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            environment[parts[0]] = parts[1].replacingOccurrences(of: "%S", with: state)
        }
        let db = try #require(environment["LEGNEXT_QUEUE_DB"])
        #expect(db == state + "/legnext-queue/queue.db")
        let execStart = try #require(settings.first { $0.key == "ExecStart" }?.value).split(separator: " ").map(String.init)
        #expect(execStart.first?.hasSuffix("/legnext-queue") == true)
        let arguments = execStart.dropFirst().flatMap { word -> [String] in
            word.hasPrefix("$") ? (environment[String(word.dropFirst())] ?? "").split(separator: " ").map(String.init) : [word]
        }

        let daemon = try RunningProcess(CLIFixture.binary, arguments, environment: environment)
        defer { if daemon.isRunning { daemon.signal(SIGKILL) } }
        #expect(eventually(timeout: 30) { !listener.messages(with: "READY=1").isEmpty }, "READY=1 after migrations and recovery: \(daemon.errors)")
        let cli = { (arguments: [String]) in try Subprocess.run(CLIFixture.binary, ["--db", db] + arguments) }
        #expect(try cli(["enqueue", "a fox", "a heron", "a lynx"]).status == 0)
        #expect(eventually(timeout: 60) { listener.statuses.contains { $0.hasPrefix("0 queued, 0 in flight, 3 completed") } }, "\(listener.statuses)")
        #expect(eventually(timeout: 30) { listener.messages(with: "WATCHDOG=1").count >= 3 })

        daemon.signal(SIGTERM)
        let result = daemon.wait(timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(eventually(timeout: 5) { !listener.messages(with: "STOPPING=1").isEmpty })

        let messages = listener.messages
        let ready = try #require(messages.firstIndex { $0.text.hasPrefix("READY=1") })
        let firstPing = try #require(messages.firstIndex { $0.text == "WATCHDOG=1" })
        #expect(ready < firstPing, "no watchdog ping before READY")
        #expect(messages[ready].text.contains("STATUS=0 queued, 0 in flight"), "READY carries the counts: \(messages[ready].text)")
        // That the pings come often enough is systemd's to judge: scripts/systemd-test.sh runs the
        // unit under a real systemd with WatchdogSec=, which kills a daemon whose pings stop.
        let lines = result.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil }, "journal lines carry their priority: \(lines)")
        #expect(!result.stderr.contains(secret))
        let status = try JSONValue(data: Data(try cli(["status", "--json"]).stdout.utf8))
        #expect(status["counts"]?["completed"]?.intValue == 3)
    }

    /// Under the unit's `UMask=0007` the queue, its journal files and the lock are group-writable,
    /// so the people in the service's group can add work with `sqlite3`.
    @Test func theQueueFilesAreGroupWritableUnderTheUnitsUmask() throws {
        let dir = try TemporaryDirectory("umask")
        defer { dir.remove() }
        let db = dir.file("queue.db")
        let script = "umask 0007 && \"$0\" --db \"$1\" enqueue 'a fox' && exec \"$0\" --db \"$1\" run --simulate --no-downloads --exit-when-idle"
        let run = try Subprocess.run("/bin/sh", ["-c", script, CLIFixture.binary, db], environment: DaemonProcessTests.environment(), timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        for file in [db, db + "-lock"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o660, "\(file): \(String(mode ?? 0, radix: 8))")
        }
    }

    /// A heartbeat round that cannot finish (here: a sqlite3 shell holds the write lock) stops
    /// the pings until it does, which is what lets systemd restart a wedged daemon.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aBlockedHeartbeatHoldsBackTheWatchdog() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess()
        defer { sim.stop() }
        try cli.run(["migrate"])
        let listener = try NotifyListener(path: cli.dir.file("notify.sock"))
        defer { listener.stop() }
        var environment = DaemonProcessTests.environment()
        environment["NOTIFY_SOCKET"] = listener.path
        environment["WATCHDOG_USEC"] = "1000000"
        let daemon = try RunningProcess(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--log-level", "error"],
            environment: environment
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        #expect(eventually(timeout: 30) { listener.messages(with: "WATCHDOG=1").count >= 2 })
        let shell = try RunningProcess(Subprocess.sqlite3!, [cli.db])
        shell.write(".timeout 5000\nBEGIN IMMEDIATE;\nUPDATE daemon SET version = version;\n.shell sleep 3\nCOMMIT;\n")
        shell.closeInput()
        let lockStarted = Date()
        #expect(shell.wait(timeout: 30).status == 0)
        let lockEnded = Date()
        #expect(eventually(timeout: 30) { listener.messages(with: "WATCHDOG=1").contains { $0.at > lockEnded } }, "pings resume")
        let pings = listener.messages(with: "WATCHDOG=1").map(\.at)
        let longestGap = zip(pings, pings.dropFirst()).map { $1.timeIntervalSince($0) }.max() ?? 0
        #expect(longestGap >= 2, "no pings while the heartbeat waited for the lock (\(lockEnded.timeIntervalSince(lockStarted))s)")
        #expect(daemon.isRunning)
    }

    @Test(.enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed"))
    func theUnitVerifiesAndIsHardened() throws {
        let dir = try TemporaryDirectory("unitfile")
        defer { dir.remove() }
        // On a build machine the binary is not installed; point the copy at the one just built.
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/legnext-queue", with: CLIFixture.binary)
        let copy = dir.file("legnext-queue.service")
        try unit.write(toFile: copy, atomically: true, encoding: .utf8)
        let verify = try Subprocess.run(Self.systemdAnalyze!, ["verify", copy])
        #expect(verify.status == 0 && (verify.stdout + verify.stderr).isEmpty, "\(verify.stdout)\(verify.stderr)")

        let security = try Subprocess.run(Self.systemdAnalyze!, ["security", "--offline=yes", "--no-pager", copy])
        let summary = try #require(
            security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") },
            "\(security.stdout)\(security.stderr)"
        )
        let score = try #require(summary.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(summary)")
        #expect(score <= 2.0, "\(summary)")
    }

    @Test(.enabled(if: make != nil, "make is not installed"))
    func makeInstallsAndUninstalls() throws {
        let dir = try TemporaryDirectory("install")
        defer { dir.remove() }
        let built = URL(fileURLWithPath: CLIFixture.binary).deletingLastPathComponent().path
        let variables = ["DESTDIR=\(dir.path)", "PREFIX=/opt/lnq", "BUILT=\(built)"]
        let install = try Subprocess.run(Self.make!, ["-C", Self.root, "install-files"] + variables)
        #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
        let files = [
            "/opt/lnq/bin/legnext-queue", "/opt/lnq/bin/legnext-sim", "/etc/systemd/system/legnext-queue.service",
            "/etc/sysusers.d/legnext-queue.conf", "/etc/legnext-queue/legnext-queue.env.example", "/opt/lnq/share/doc/legnext-queue/README.md",
            "/opt/lnq/share/bash-completion/completions/legnext-queue", "/opt/lnq/share/zsh/site-functions/_legnext-queue",
            "/opt/lnq/share/fish/vendor_completions.d/legnext-queue.fish", "/opt/lnq/share/man/man1/legnext-queue.1",
        ]
        for file in files { #expect(FileManager.default.fileExists(atPath: dir.path + file), "\(file)") }
        let unit = try String(contentsOfFile: dir.path + "/etc/systemd/system/legnext-queue.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/lnq/bin/legnext-queue run $LEGNEXT_QUEUE_OPTIONS"))
        #expect(!unit.contains("/usr/local"))
        let version = try Subprocess.run(dir.path + "/opt/lnq/bin/legnext-queue", ["--version"])
        #expect(version.status == 0)
        let page = try String(contentsOfFile: dir.path + "/opt/lnq/share/man/man1/legnext-queue.1", encoding: .utf8)
        #expect(page.hasPrefix(".Dd ") && page.contains(".Ss enqueue") && page.contains(".Ss run"), "\(page.prefix(300))")

        let uninstall = try Subprocess.run(Self.make!, ["-C", Self.root, "uninstall"] + variables)
        #expect(uninstall.status == 0, "\(uninstall.stdout)\(uninstall.stderr)")
        for file in files { #expect(!FileManager.default.fileExists(atPath: dir.path + file), "\(file)") }
    }
}
