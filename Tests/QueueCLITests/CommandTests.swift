import Foundation
import LegnextAPI
import QueueStore
import QueueSupport
import QueueTestSupport
import Testing

/// Every command through the real binary: output shapes and exit statuses.
@Suite struct CommandTests {
    @Test func enqueueListShowStatusRoundTrip() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let added = try cli.run(["enqueue", "a red fox --ar 3:2", "a blue whale", "--tag", "crm-7", "--priority", "3"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout == "1\n2\n")
        let viaEnv = try Subprocess.run(
            CLIFixture.binary,
            ["enqueue", "--kind", "upscale", "--parent", "1", "--param", "imageNo=2", "--param", "type=0", "--json"],
            environment: ProcessInfo.processInfo.environment.merging(["LEGNEXT_QUEUE_DB": cli.db]) { $1 }
        )
        #expect(viaEnv.status == 0, "\(viaEnv.stderr)")
        #expect(try JSONValue(data: Data(viaEnv.stdout.utf8))["ids"] == [3])

        let list = try cli.json(["list"])
        let jobs = try #require(list.arrayValue)
        #expect(jobs.map { $0["id"]?.intValue } == [3, 2, 1])
        for key in ["id", "kind", "prompt", "state", "remote_job_id", "error", "created_at"] {
            #expect(jobs.allSatisfy { $0[key] != nil }, "every job has \(key)")
        }
        #expect(jobs[2]["tag"] == "crm-7")
        #expect(jobs[0]["params"] == ["imageNo": 2, "type": 0], "params are JSON, not a string")
        #expect(jobs[0]["parent_id"] == 1)

        let status = try cli.json(["status"])
        let counts = try #require(status["counts"]?.objectValue)
        #expect(Set(counts.keys) == Set(JobState.allCases.map(\.rawValue)))
        #expect(counts["queued"] == 3)
        #expect(status["daemon"] == .null)
        #expect(status["oldest_queued_age_seconds"]?.doubleValue != nil)

        #expect(try cli.run(["cancel", "2"]).status == 0)
        let shown = try cli.json(["show", "2"])
        #expect(shown["state"] == "cancelled")
        #expect(shown["events"]?.arrayValue?.count == 1)
        #expect(shown["events"]?.arrayValue?.first?["to_state"] == "cancelled")
        #expect(try cli.run(["show", "2"]).stdout.contains("queued → cancelled"))
        #expect(try cli.run(["list", "--state", "cancelled"]).stdout.contains("a blue whale"))
        let text = try cli.run(["status"]).stdout
        #expect(text.contains("not running"))
        #expect(text.contains("cancelled"))
    }

    @Test func exitStatusesFollowSysexits() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["status"]).status == 66, "no database yet")
        #expect(try cli.run(["status"]).stderr.contains("legnext-queue --db"), "says what to do")
        #expect(try cli.run(["migrate"]).status == 0)
        #expect(try cli.run(["migrate"]).stdout.contains("up to date"))
        #expect(try cli.run(["show", "42"]).status == 66)
        #expect(try cli.run(["enqueue", ""]).status == 65)
        #expect(try cli.run(["enqueue", "--kind", "imagine", "x"]).status == 65)
        #expect(try cli.run(["enqueue", "--kind", "upscale", "--parent", "9", "--param", "imageNo=1", "--param", "type=0"]).status == 66)
        #expect(try cli.run(["enqueue", "x", "--after", "someday"]).status == 64)
        #expect(try cli.run(["enqueue", "a", "b", "--key", "k"]).status == 64)
        #expect(try cli.run(["list", "--state", "finished"]).status == 64)
        #expect(try cli.run(["frobnicate"]).status == 64)
        for option in ["--balance-check-interval", "--callback-safety-poll"] {
            let result = try cli.run(["run", option, "soon"])
            #expect(result.status == 64 && result.stderr.contains("\(option) must be a duration"), "\(result.stderr)")
            let tooShort = try cli.run(["run", option, "0s"])
            #expect(tooShort.status == 64 && tooShort.stderr.contains("\(option) must be at least 1s"), "\(tooShort.stderr)")
        }
        let noPlan = try cli.run(["run", "--plan-concurrency", "0"])
        #expect(noPlan.status == 64 && noPlan.stderr.contains("--plan-concurrency must be at least 1"), "\(noPlan.stderr)")
        let both = try cli.run(["run", "--plan-concurrency", "6", "--concurrency", "8"])
        #expect(both.status == 64 && both.stderr.contains("not both"), "\(both.stderr)")
        #expect(try cli.run(["cancel", "77"]).status == 66)
        #expect(try cli.run(["run"], environment: ["PATH": "/usr/bin:/bin"]).status == 78, "no API key")
        #expect(try cli.run(["run"], environment: ["PATH": "/usr/bin:/bin"]).stderr.contains("LEGNEXT_API_KEY"))
    }

    /// The console off loopback needs a real token; a bad address or token file says what to do
    /// before anything listens.
    @Test func theConsoleRefusesToListenUnprotected() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        try cli.run(["enqueue", "one"])
        let open = try cli.run(["ui", "--listen", "0.0.0.0:0"])
        #expect(open.status == 78 && open.stderr.contains("--ui-token-file"), "\(open.stderr)")
        let short = cli.dir.file("short-token")
        try "hunter2\n".write(toFile: short, atomically: true, encoding: .utf8)
        let weak = try cli.run(["ui", "--listen", "0.0.0.0:0", "--ui-token-file", short])
        #expect(weak.status == 65 && weak.stderr.contains("at least 16 characters (it has 7)"), "\(weak.stderr)")
        let missing = try cli.run(["ui", "--ui-token-file", cli.dir.file("nope")])
        #expect(missing.status == 66 && missing.stderr.contains("cannot read the console token file"), "\(missing.stderr)")
        let address = try cli.run(["run", "--simulate", "--ui-listen", "8080"])
        #expect(address.status == 64 && address.stderr.contains("--ui-listen must be HOST:PORT"), "\(address.stderr)")
        let daemonOpen = try cli.run(["run", "--simulate", "--exit-when-idle", "--ui-listen", "0.0.0.0:0"])
        #expect(daemonOpen.status == 78 && daemonOpen.stderr.contains("reachable from other machines"), "\(daemonOpen.stderr)")
        #expect(try cli.count("queued") == 1, "no job was taken")
    }

    /// `list` says how many it left out; `--file` skips comments; `--dry-run` checks and prices
    /// without touching the queue; `export` writes every job with its results.
    @Test func listCountsDryRunAndExport() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let priced = try cli.run(["enqueue", "--dry-run", "a fox", "an owl", "--tag", "t"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(priced.status == 0 && priced.stdout.contains("would enqueue 2 jobs") && priced.stdout.contains("points frozen at submission: 160"))
        #expect(priced.stdout.contains("balance: not read (no API key"), "\(priced.stdout)")
        #expect(!FileManager.default.fileExists(atPath: cli.db), "a dry run makes no database")
        let file = cli.dir.file("jobs.txt")
        try "# tonight's batch\na fox, \"quoted\"\n  # an indented comment\n\nan owl\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try cli.run(["enqueue", "--file", file, "--tag", "night"]).status == 0)
        #expect(try cli.count("queued") == 2, "comments are not jobs")
        try cli.run(["enqueue", "one", "two", "three"])
        let short = try cli.run(["list", "--limit", "2"])
        #expect(short.stderr.contains("2 of 5 shown"), "\(short.stderr)")
        let tagged = try cli.run(["list", "--tag", "night", "--limit", "2"])
        #expect(!tagged.stderr.contains("shown"), "all of the tag's 2 are shown: \(tagged.stderr)")
        let all = try cli.run(["list", "--all"])
        #expect(all.stdout.split(separator: "\n").count == 6 && !all.stderr.contains("shown"))
        let csv = try cli.run(["export", "--tag", "night"])
        let rows = csv.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.count == 3 && rows[0].hasPrefix("id,kind,state,tag,prompt,seed,output_paths,output_urls,error"), "\(csv.stdout)")
        #expect(rows[1].contains(#","a fox, ""quoted""","#), "RFC 4180 quoting: \(rows[1])")
        if let sqlite3 = Subprocess.sqlite3 {
            #expect(
                try Subprocess.run(sqlite3, [cli.db], input: "UPDATE jobs SET error = 'HTTP 500' || char(13, 10) || 'body' WHERE id = 1;").status == 0
            )
            let crlf = try cli.run(["export", "--tag", "night"]).stdout
            #expect(crlf.contains("\"HTTP 500\r\nbody\""), "a CRLF inside a field is quoted: \(crlf.debugDescription)")
        }
        let jsonl = try cli.run(["export", "--format", "jsonl"])
        let objects = try jsonl.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 5 && objects.allSatisfy { $0?["state"] as? String == "queued" && $0?["outputs"] is [Any] })
        let out = cli.dir.file("export.csv")
        let written = try cli.run(["export", "-o", out])
        let exported = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written.stderr.contains("wrote 5 jobs") && exported.contains("an owl"))
    }

    @Test func cancelAndRetrySayWhyNot() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        try cli.run(["enqueue", "one", "two"])
        let retryQueued = try cli.run(["retry", "1"])
        #expect(retryQueued.status == 65)
        #expect(retryQueued.stderr.contains("already queued"))
        #expect(try cli.run(["cancel", "1"]).status == 0)
        let again = try cli.run(["cancel", "1"])
        #expect(again.status == 65)
        #expect(again.stderr.contains("already cancelled"))
        #expect(try cli.run(["retry", "1"]).stdout.contains("requeued (was cancelled)"))
        #expect(try cli.run(["retry", "--failed"]).stdout.contains("no failed jobs"))
        #expect(try cli.run(["retry"]).status == 64)
    }

    @Test func idempotencyKeysAndDelaysFromTheCommandLine() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "once", "--key", "order-1"]).stdout == "1\n")
        let repeated = try cli.run(["enqueue", "once again", "--key", "order-1"])
        #expect(repeated.status == 0)
        #expect(repeated.stdout.isEmpty)
        #expect(repeated.stderr.contains("skipped 1"))
        let laterId = try cli.run(["enqueue", "later", "--after", "1h30m"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let later = try cli.json(["show", laterId])
        let runAfter = try #require(later["run_after"]?.stringValue.flatMap(Timestamp.parse))
        #expect(abs(runAfter.timeIntervalSinceNow - 5400) < 60)
        let atId = try cli.run(["enqueue", "at a time", "--after", "2030-01-02T03:04:05Z"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.json(["show", atId])["run_after"] == "2030-01-02T03:04:05.000Z")
    }

    /// A pan's direction by name, stored as Legnext's docs number it (0 down, 1 right, 2 up,
    /// 3 left); a bare number is refused, since the Python SDK numbers them otherwise.
    @Test func panDirectionsAreNamedAndStoredAsTheDocsNumberThem() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "a fox"]).status == 0)
        let pan = ["enqueue", "--kind", "pan", "--parent", "1", "--param", "imageNo=0", "--param", "scale=1.5"]
        for (name, number) in [("down", 0), ("right", 1), ("up", 2), ("left", 3)] {
            let id = try cli.run(pan + ["--param", "direction=\(name)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try cli.json(["show", id])["params"]?["direction"]?.intValue == number, "\(name)")
        }
        let bare = try cli.run(pan + ["--param", "direction=2"])
        #expect(bare.status == 65)
        #expect(bare.stderr.contains("by name") && bare.stderr.contains("0 down, 1 right, 2 up, 3 left"), "\(bare.stderr)")
        let line = #"{"kind": "pan", "parent": 1, "params": {"imageNo": 1, "scale": 2, "direction": "left"}}"#
        #expect(try cli.run(["enqueue", "--file", "-"], input: line).status == 0)
        #expect(try cli.json(["show", "6"])["params"]?["direction"]?.intValue == 3)
    }

    @Test func theKindsTableMatchesTheClient() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        try cli.run(["migrate"])
        guard let sqlite3 = Subprocess.sqlite3 else { return }
        let rows = try Subprocess.run(
            sqlite3,
            [cli.db, "SELECT name, coalesce(prompt_field, ''), prompt_required, follow_up FROM kinds ORDER BY name"]
        )
        let expected = LegnextKind.allCases.sorted { $0.rawValue < $1.rawValue }.map {
            "\($0.rawValue)|\($0.promptField ?? "")|\($0.promptRequired ? 1 : 0)|\($0.isFollowUp ? 1 : 0)"
        }
        #expect(rows.stdout.split(separator: "\n").map(String.init) == expected)
    }
}
