import Foundation
import LegnextAPI
import Migrations
import QueueStore
import QueueTestSupport
import Testing

/// Rows a person can write with `sqlite3`: each is refused at insert with a message, or ends
/// `failed` with one before any request leaves; the good jobs beside them complete and the
/// daemon never dies on what it reads.
@Suite(.serialized, .enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
struct CarelessRowsTests {
    /// One statement through the shell: its exit status and stderr.
    static func shell(_ db: String, _ sql: String) throws -> CommandResult {
        try Subprocess.run(Subprocess.sqlite3!, ["-bail", db], input: sql + "\n")
    }

    @Test(arguments: [
        // Types: a BLOB, REAL or integer where text belongs, text in integer columns.
        ("INSERT INTO jobs(prompt) VALUES (x'00ff00')", "prompt must be text"),
        ("INSERT INTO jobs(prompt, tag) VALUES ('x', x'ff')", "tag must be text"),
        ("INSERT INTO jobs(prompt, idempotency_key) VALUES ('x', x'ff')", "idempotency_key must be non-empty text"),
        ("INSERT INTO jobs(prompt, error) VALUES ('x', x'ff')", "are text written by legnext-queue"),
        ("INSERT INTO jobs(prompt, created_at) VALUES ('x', x'ff')", "created_at and updated_at must be text"),
        ("INSERT INTO jobs(prompt, requests) VALUES ('x', 'many')", "attempts and requests must be integers"),
        ("INSERT INTO jobs(prompt, requests) VALUES ('x', 1.5)", "attempts and requests must be integers"),
        ("INSERT INTO jobs(prompt, credits_used) VALUES ('x', 'lots')", "credits_used must be an integer"),
        ("INSERT INTO jobs(prompt, parent_id) VALUES ('x', 'one')", "parent_id must be the id of an earlier job"),
        ("INSERT INTO jobs(prompt, params) VALUES ('x', x'7b7d')", "params must be text holding a JSON object"),
        ("INSERT INTO jobs(kind, prompt) VALUES (x'646966667573696f6e', 'x')", "kind must be text"),
        ("INSERT INTO jobs(prompt, state) VALUES ('x', CAST('queued' AS BLOB))", "state must be text"),
        // Text that would be sent other than it is written.
        ("INSERT INTO jobs(prompt) VALUES ('a fox' || char(0) || ' in the snow')", "prompt must not contain a NUL"),
        ("INSERT INTO jobs(prompt, params) VALUES ('x', '{}' || char(0) || 'junk')", "params must not contain a NUL"),
        ("INSERT INTO jobs(prompt) VALUES ('   ')", "prompt must not be blank"),
        ("INSERT INTO jobs(prompt) VALUES (char(12288, 160, 9))", "prompt must not be blank"),
        // Ids and parents.
        ("INSERT INTO jobs(id, prompt) VALUES (-5, 'x')", "id must be a positive integer"),
        ("INSERT INTO jobs(id, kind, parent_id, params) VALUES (50, 'reroll', 50, '{}')", "parent_id must be the id of an earlier job"),
        ("UPDATE jobs SET parent_id = 2 WHERE id = 1", "parent_id must be the id of an earlier job"),
        // States a person cannot start a job in, and steps the state machine does not have.
        ("INSERT INTO jobs(prompt, state) VALUES ('x', 'pending')", "a new job starts as queued"),
        ("INSERT INTO jobs(prompt, state, remote_job_id) VALUES ('x', 'processing', 'r-1')", "a new job starts as queued"),
        ("INSERT INTO jobs(prompt, state) VALUES ('x', 'submitting')", "a new job starts as queued"),
        ("INSERT INTO jobs(prompt, state) VALUES ('x', 'completed')", "a new job starts as queued"),
        ("UPDATE jobs SET state = 'completed' WHERE id = 1", "only legnext-queue moves a job past queued"),
        ("UPDATE jobs SET state = 'completed', attempts = 1 WHERE id = 1", "a queued job can only become submitting"),
        ("UPDATE jobs SET state = 'queued' WHERE id = 3", "putting it back in the queue would pay for it twice"),
        ("UPDATE jobs SET state = 'done' WHERE id = 1", "unknown state"),
        // Each kind's documented parameters.
        (
            "INSERT INTO jobs(kind, params) VALUES ('blend', '{\"imgUrls\": [\"https://a.example/1.png\"], \"aspect_ratio\": \"1:1\"}')",
            "imgUrls must be an array of 2-5"
        ),
        (
            "INSERT INTO jobs(kind, params) VALUES ('blend', '{\"imgUrls\": [\"https://a.example/1.png\", \"https://a.example/2.png\"]}')",
            "aspect_ratio must be"
        ),
        ("INSERT INTO jobs(kind, params) VALUES ('describe', '{\"imgUrl\": \"not a url\"}')", "imgUrl must be an http(s) URL"),
        ("INSERT INTO jobs(kind, params) VALUES ('describe', '{}')", "imgUrl must be an http(s) URL"),
        ("INSERT INTO jobs(kind, parent_id, params) VALUES ('upscale', 1, '{\"imageNo\": 9, \"type\": 0}')", "imageNo must be an integer 0-3"),
        ("INSERT INTO jobs(kind, parent_id, params) VALUES ('upscale', 1, '{\"imageNo\": 2}')", "params.type must be 0 or 1"),
        (
            "INSERT INTO jobs(kind, parent_id, params) VALUES ('pan', 1, '{\"imageNo\": 0, \"direction\": 1, \"scale\": 9}')",
            "params.scale must be a number"
        ),
        ("INSERT INTO jobs(kind, prompt, params) VALUES ('video-diffusion', 'https://a.example/1.png a fox', '{\"videoType\": 7}')", "videoType"),
        ("INSERT INTO jobs(kind, parent_id, params) VALUES ('inpaint', 1, '{\"imageNo\": 1, \"maskFile\": \"/etc/shadow\"}')", "never opens a file"),
        ("INSERT INTO jobs(prompt, params) VALUES ('x', '{\"callback\": \"https://evil.example/\"}')", "params.callback is set by legnext-queue"),
    ])
    func aRowTheSchemaCanJudgeIsRefusedAtInsert(sql: String, message: String) throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        // Migrated in this process, as `migrate` does: 37 cases need not start 37 processes for it.
        _ = try QueueStore.open(path: cli.db, options: .init(create: true, migrate: true))
        // Job 1 queued, 2 queued, 3 running at Legnext (moved there by the machine's own steps).
        let setup = try Self.shell(
            cli.db,
            """
            INSERT INTO jobs(prompt) VALUES ('one'), ('two'), ('three');
            UPDATE jobs SET state = 'submitting', attempts = 1 WHERE id = 3;
            UPDATE jobs SET state = 'processing', remote_job_id = 'remote-3' WHERE id = 3;
            """
        )
        #expect(setup.status == 0, "\(setup.stderr)")
        let before = try cli.sqlite("SELECT group_concat(id || state || coalesce(parent_id, '-'), ',') FROM jobs")
        let result = try Self.shell(cli.db, sql + ";")
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
        #expect(try cli.sqlite("SELECT group_concat(id || state || coalesce(parent_id, '-'), ',') FROM jobs") == before)
    }

    /// Rows written before the rules existed (schema 5, its CHECKs off for the session) and rows
    /// only the program can judge, beside three good jobs: the daemon fails each bad one with a
    /// reason before any request, completes the good ones, and Legnext sees no bad request.
    @Test func badRowsFailWithAReasonAndTheGoodJobsBesideThemComplete() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        var schema5 = ""
        for migration in Migration.all where migration.version <= 5 {
            schema5 += "BEGIN IMMEDIATE;\n" + migration.sql + "\nCOMMIT;\n"
        }
        #expect(try Self.shell(cli.db, schema5).status == 0)
        let nested = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        // (id, the row, what its failure must say)
        let old: [(Int, String, String)] = [
            (101, "INSERT INTO jobs(id, prompt) VALUES (101, x'00ff00')", "prompt must be text"),
            (102, "INSERT INTO jobs(id, prompt, tag) VALUES (102, 'x', x'ff')", "tag must be text"),
            (103, "INSERT INTO jobs(id, prompt, idempotency_key) VALUES (103, 'x', x'ff')", "idempotency_key must be non-empty text"),
            (104, "INSERT INTO jobs(id, prompt, error) VALUES (104, 'x', x'ff')", "are text written by legnext-queue"),
            (105, "INSERT INTO jobs(id, prompt, created_at) VALUES (105, 'x', x'ff')", "created_at and updated_at must be text"),
            (106, "INSERT INTO jobs(id, prompt, requests) VALUES (106, 'x', 'many')", "attempts and requests must be integers"),
            (107, "INSERT INTO jobs(id, prompt, credits_used) VALUES (107, 'x', 'lots')", "credits_used must be an integer"),
            (108, "INSERT INTO jobs(id, prompt, parent_id) VALUES (108, 'x', 'one')", "parent_id is the text \"one\""),
            (109, "INSERT INTO jobs(id, kind, parent_id) VALUES (109, 'reroll', 109)", "parents form a cycle"),
            (110, "INSERT INTO jobs(id, kind, parent_id) VALUES (110, 'reroll', 111)", "parents form a cycle"),
            (111, "INSERT INTO jobs(id, kind, parent_id) VALUES (111, 'reroll', 110)", "parent job 110 ended failed"),
            (112, "INSERT INTO jobs(id, prompt, state) VALUES (112, 'x', CAST('queued' AS BLOB))", "its state is a BLOB"),
            (113, "INSERT INTO jobs(id, prompt, state) VALUES (113, 'x', 'pending')", "has no remote_job_id"),
            (114, "INSERT INTO jobs(id, prompt, state) VALUES (114, 'x', 'processing')", "has no remote_job_id"),
            (115, "INSERT INTO jobs(id, prompt) VALUES (115, 'a fox' || char(0) || ' in the snow')", "NUL"),
            (116, "INSERT INTO jobs(id, prompt) VALUES (116, '   ')", "prompt must not be blank"),
            (
                117,
                "INSERT INTO jobs(id, kind, params) VALUES (117, 'blend', '{\"imgUrls\": [\"https://a.example/1.png\"], \"aspect_ratio\": \"1:1\"}')",
                "imgUrls"
            ),
            (118, "INSERT INTO jobs(id, kind, params) VALUES (118, 'describe', '{\"imgUrl\": \"not a url\"}')", "imgUrl must be an http(s) URL"),
            (119, "INSERT INTO jobs(id, kind, parent_id, params) VALUES (119, 'upscale', 1, '{\"imageNo\": 9, \"type\": 0}')", "imageNo must be"),
            (
                120, "INSERT INTO jobs(id, kind, parent_id, params) VALUES (120, 'inpaint', 1, '{\"imageNo\": 1, \"maskFile\": \"/etc/shadow\"}')",
                "never opens a file"
            ),
            (121, "INSERT INTO jobs(id, prompt, state) VALUES (121, 'x', 'done')", "its state is the text \"done\""),
        ]
        // Accepted by the schema; only the program's own rules can judge them, at claim.
        let new: [(Int, String, String)] = [
            (
                201,
                "INSERT INTO jobs(id, kind, params) VALUES (201, 'blend', '{\"imgUrls\": [\"https://a.example/1.png\", \"not a url\"], \"aspect_ratio\": \"1:1\"}')",
                "imgUrls must be an http(s) URL"
            ),
            (202, "INSERT INTO jobs(id, prompt, params) VALUES (202, 'x', '{\"foo\": 1}')", "diffusion has no parameter \"foo\""),
            (203, "INSERT INTO jobs(id, prompt, params) VALUES (203, 'x', '{\"text\": \"\\ud800\"}')", "params could not be read"),
            (204, "INSERT INTO jobs(id, prompt, params) VALUES (204, 'x', '{\"deep\": \(nested)}')", "params could not be read"),
            (205, "INSERT INTO jobs(id, kind, prompt, parent_id, params) VALUES (205, 'edit', 'x', 1, '{\"imageNo\": 0}')", "canvas is required"),
        ]
        let good = "INSERT INTO jobs(id, prompt) VALUES (1, 'a red fox'), (2, 'a lighthouse in a storm'), (3, 'a quiet harbour at dawn');\n"
        let oldRows = good + "PRAGMA ignore_check_constraints = ON;\n" + old.map { $0.1 + ";\n" }.joined()
        let wrote = try Self.shell(cli.db, oldRows)
        #expect(wrote.status == 0, "\(wrote.stderr)")
        #expect(try cli.run(["migrate"]).status == 0)
        let newRows = try Self.shell(cli.db, new.map { $0.1 + ";\n" }.joined())
        #expect(newRows.status == 0, "\(newRows.stderr)")

        // Looking at the rows does not crash either: each unreadable one is shown with its reason.
        let list = try cli.run(["list", "--limit", "100"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("row could not be read: prompt is a BLOB"))
        let show = try cli.run(["show", "101"])
        #expect(show.status == 0 && show.stdout.contains("row could not be read"), "\(show.stdout)\(show.stderr)")
        #expect(try cli.run(["list", "--json", "--limit", "100"]).status == 0)
        let cancel = try cli.run(["cancel", "112"])
        #expect(cancel.status == 65 && cancel.stderr.contains("state is a BLOB"), "\(cancel.stderr)")

        let sim = try SimulatorProcess(["--duration-median", "0.05"])
        defer { sim.stop() }
        let run = try Subprocess.run(
            CLIFixture.binary,
            ["--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--exit-when-idle", "--no-downloads", "--log-level", "warning"],
            environment: DaemonProcessTests.environment()
        )
        #expect(run.status == 0, "the daemon never dies on a row: \(run.stderr)")

        let rows = try cli.sqlite("SELECT id || char(9) || state || char(9) || coalesce(error, '') FROM jobs ORDER BY id")
        var outcome: [Int: (state: String, error: String)] = [:]
        for line in rows.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            if fields.count == 3, let id = Int(fields[0]) { outcome[id] = (fields[1], fields[2]) }
        }
        for id in 1...3 { #expect(outcome[id]?.state == "completed", "good job \(id): \(String(describing: outcome[id]))") }
        for (id, _, message) in old + new {
            #expect(outcome[id]?.state == "failed", "job \(id): \(String(describing: outcome[id]))")
            #expect(outcome[id]?.error.contains(message) == true, "job \(id) says why: \(String(describing: outcome[id]))")
        }
        let events = try cli.sqlite("SELECT count(DISTINCT job_id) FROM job_events WHERE to_state = 'failed' AND detail LIKE '%could not be read%'")
        #expect(Int(events) ?? 0 >= 10, "each quarantine is a job_events line: \(events)")

        let stats = try await sim.stats()
        #expect(stats.number("jobs_created") == 3, "only the good jobs reached Legnext")
        var refused: [String] = []
        for (endpoint, statuses) in stats["requests"]?.objectValue ?? [:] {
            for (status, count) in statuses.objectValue ?? [:] where status.hasPrefix("4") && (count.intValue ?? 0) > 0 {
                refused.append("\(endpoint) \(status)")
            }
        }
        #expect(refused.isEmpty, "no request was refused: \(refused)")
        #expect(try cli.sqlite("PRAGMA integrity_check") == "ok")
        let counts = try cli.json(["status"])["counts"]
        #expect(counts?["failed"]?.intValue == old.count + new.count && counts?["completed"]?.intValue == 3, "\(String(describing: counts))")
        // Retrying them all puts back what the rules allow and says why for the rest.
        let retry = try cli.run(["retry", "--failed"])
        #expect(retry.status == 65, "\(retry.stdout)\(retry.stderr)")
        #expect(retry.stderr.contains("job 101: not requeued: job 101 breaks the rule \"prompt must be text"), "\(retry.stderr)")
        #expect(retry.stdout.contains("job 201: requeued (was failed)"), "\(retry.stdout)")
    }

    /// `enqueue` and `run` do not add a queue to a database that is someone else's.
    @Test func aDatabaseThatIsNotOursIsRefused() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try Self.shell(cli.db, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);").status == 0)
        let enqueue = try cli.run(["enqueue", "a red fox"])
        #expect(enqueue.status == 78)
        #expect(enqueue.stderr.contains("did not make (it holds invoices)") && enqueue.stderr.contains("migrate --adopt"), "\(enqueue.stderr)")
        let run = try cli.run(["run", "--simulate", "--exit-when-idle"], environment: DaemonProcessTests.environment())
        #expect(run.status == 78, "\(run.stderr)")
        #expect(try cli.sqlite("SELECT count(*) FROM sqlite_schema") == "1", "nothing was added")
        #expect(try cli.run(["migrate", "--adopt"]).status == 0)
        #expect(try cli.run(["enqueue", "a red fox"]).status == 0)
        #expect(try cli.sqlite("SELECT count(*) FROM invoices") == "0")
    }

    /// `cancel --force` settles a job Legnext has; `cancel` and `retry` take a selection.
    @Test func cancelForceAndSelections() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        #expect(try cli.run(["enqueue", "--tag", "a", "one", "two"]).status == 0)
        #expect(try cli.run(["enqueue", "--tag", "b", "three"]).status == 0)
        let setup = try Self.shell(
            cli.db,
            """
            UPDATE jobs SET state = 'submitting', attempts = 1 WHERE id = 1;
            UPDATE jobs SET state = 'processing', remote_job_id = 'remote-1' WHERE id = 1;
            """
        )
        #expect(setup.status == 0, "\(setup.stderr)")
        let plain = try cli.run(["cancel", "1"])
        #expect(plain.status == 65 && plain.stderr.contains("cancel --force 1"), "\(plain.stderr)")
        let forced = try cli.run(["cancel", "--force", "1"])
        #expect(forced.status == 0 && forced.stdout.contains("cancelled (was processing)"), "\(forced.stdout)\(forced.stderr)")
        #expect(forced.stderr.contains("Legnext may still run"))
        let byTag = try cli.run(["cancel", "--tag", "a"])
        #expect(byTag.status == 0 && byTag.stdout.contains("job 2: cancelled") && !byTag.stdout.contains("job 3"), "\(byTag.stdout)")
        let retry = try cli.run(["retry", "--state", "cancelled", "--tag", "a"])
        #expect(retry.status == 0 && retry.stdout.contains("job 1: requeued") && retry.stdout.contains("job 2: requeued"), "\(retry.stdout)")
        #expect(try cli.run(["retry", "--state", "queued"]).status == 64)
        #expect(try cli.run(["cancel", "--kind", "upscale"]).stdout.contains("no queued jobs of kind upscale"))
        #expect(try cli.sqlite("SELECT group_concat(state, ',') FROM jobs ORDER BY id") == "queued,queued,queued")
    }
}
