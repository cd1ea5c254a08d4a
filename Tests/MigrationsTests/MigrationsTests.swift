import Foundation
import GRDB
import Migrations
import QueueStore
import QueueTestSupport
import Testing

@Suite struct MigrationsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("migrations")

    @Test func everySQLFileIsRegisteredInOrder() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == Migration.all.map(\.name))
        #expect(Migration.all.map(\.version) == Array(1...Migration.all.count))
        for migration in Migration.all {
            let text = try String(contentsOf: Self.folder.appendingPathComponent(migration.name + ".sql"), encoding: .utf8)
            #expect(text == migration.sql, "the embedded copy of \(migration.name) differs from the file")
            #expect(text.contains("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), '\(migration.name)')"))
        }
    }

    @Test func migratesAnEmptyFileOnceAndAgainIsANoOp() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try QueueStore.open(path: dir.file("q.db"), options: .init(create: true, checkSchema: false))
        #expect(try store.migrate() == Migration.all.map(\.name))
        #expect(try store.migrate() == [])
        #expect(try store.schemaVersion() == Migration.latestVersion)
        // Opening again needs no migration.
        _ = try QueueStore.open(path: dir.file("q.db"))
    }

    @Test func refusesADatabaseFromANewerVersion() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("q.db")
        _ = try QueueStore.open(path: path, options: .init(create: true, migrate: true))
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO schema_migrations (version, name) VALUES (?, 'from_the_future')",
                arguments: [Migration.latestVersion + 1]
            )
        }
        #expect(throws: StoreError.newerSchema(path: path, found: Migration.latestVersion + 1, known: Migration.latestVersion)) {
            try QueueStore.open(path: path, options: .init(migrate: true))
        }
        let message = "\(StoreError.newerSchema(path: path, found: 9, known: 1))"
        #expect(message.contains("upgrade legnext-queue"))
    }

    @Test func anOldSchemaIsReportedWithWhatToRun() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("q.db")
        _ = try QueueStore.open(path: path, options: .init(create: true, checkSchema: false))
        #expect(throws: StoreError.outdatedSchema(path: path, found: 0, needed: Migration.latestVersion)) {
            try QueueStore.open(path: path)
        }
    }

    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func theFilesApplyByHandWithTheSQLiteShell() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("byhand.db")
        for migration in Migration.all {
            let result = try Subprocess.run(Subprocess.sqlite3!, ["-bail", path], input: "BEGIN IMMEDIATE;\n" + migration.sql + "\nCOMMIT;\n")
            #expect(result.status == 0, "\(result.stderr)")
        }
        // The program sees the hand-applied schema as current and works with it.
        let store = try QueueStore.open(path: path)
        #expect(try store.schemaVersion() == Migration.latestVersion)
        #expect(try store.enqueue([NewJob(prompt: "a red fox")]).ids.count == 1)
    }

    /// 0005 rewrote the jobs rules for speed: every combination of kind, prompt, parent and
    /// state is accepted or refused exactly as under 0004, with the same message.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func theRewrittenJobRulesDecideAsBefore() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let kinds =
            "diffusion variation upscale reroll blend describe shorten pan outpaint inpaint remix edit upload-paint retexture remove-background enhance video-diffusion extend-video video-upscale"
            .split(separator: " ").map(String.init) + ["nope", ""]
        let states = ["queued", "submitting", "pending", "staged", "processing", "completed", "failed", "cancelled", "uncertain", "bogus"]
        var script = "INSERT INTO jobs(prompt) VALUES ('the parent');\n"
        for kind in kinds {
            for prompt in ["NULL", "'p'"] {
                for parent in ["NULL", "1"] {
                    for state in states {
                        script += "INSERT INTO jobs(kind, prompt, parent_id, state) VALUES ('\(kind)', \(prompt), \(parent), '\(state)');\n"
                    }
                }
            }
        }
        script += "UPDATE jobs SET state = 'bogus' WHERE id = 1;\nUPDATE jobs SET state = 'staged' WHERE id = 1;\n"
        script += "SELECT count(*), group_concat(kind || '/' || (prompt IS NULL) || '/' || (parent_id IS NULL) || '/' || state, ' ') FROM jobs;\n"
        var outcomes: [String] = []
        for upTo in [4, 5] {
            let path = dir.file("v\(upTo).db")
            for migration in Migration.all where migration.version <= upTo {
                let result = try Subprocess.run(Subprocess.sqlite3!, ["-bail", path], input: "BEGIN IMMEDIATE;\n" + migration.sql + "\nCOMMIT;\n")
                #expect(result.status == 0, "\(result.stderr)")
            }
            let run = try Subprocess.run(Subprocess.sqlite3!, [path], input: script)
            outcomes.append(run.stdout + run.stderr)
        }
        #expect(outcomes[0] == outcomes[1])
        let accepted = Int(outcomes[1].prefix { $0.isNumber }) ?? 0
        #expect(accepted > 50 && accepted < 800, "some rows pass, most do not: \(accepted)")
        #expect(outcomes[1].contains("unknown kind") && outcomes[1].contains("unknown state") && outcomes[1].contains("this kind takes no prompt"))
    }

    /// A queue made by the first release (schema 1, with jobs in it) upgrades in place.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func aVersionOneQueueUpgradesKeepingItsJobs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("v1.db")
        let first = try #require(Migration.all.first)
        let setup =
            "BEGIN IMMEDIATE;\n" + first.sql + "\nCOMMIT;\nINSERT INTO jobs(prompt, tag) VALUES ('an old fox', 'v1');\n"
            + "INSERT INTO job_outputs(job_id, kind, idx, url) VALUES (1, 'image', 0, 'https://cdn.example/fox.png');\n"
        #expect(try Subprocess.run(Subprocess.sqlite3!, ["-bail", path], input: setup).status == 0)
        let store = try QueueStore.open(path: path, options: .init(create: false, checkSchema: false))
        #expect(try store.migrate() == Migration.all.dropFirst().map(\.name))
        #expect(try store.schemaVersion() == Migration.latestVersion)
        let jobs = try store.list(state: nil, limit: 10)
        #expect(jobs.map(\.prompt) == ["an old fox"])
        #expect(jobs.first?.tag == "v1")
        let token = try Subprocess.run(Subprocess.sqlite3!, [path, "SELECT count(callback_token) FROM jobs"])
        #expect(token.stdout == "0\n", "the new column is there, empty: \(token.stderr)")
        // job_outputs was rebuilt (0004): its rows, its view and its rule are still there.
        let outputs = try Subprocess.run(
            Subprocess.sqlite3!,
            [path, "SELECT job_id, kind, url, download_state IS NULL FROM outputs; PRAGMA integrity_check;"]
        )
        #expect(outputs.stdout == "1|image|https://cdn.example/fox.png|1\nok\n", "\(outputs.stderr)")
        let bad = try Subprocess.run(Subprocess.sqlite3!, [path, "INSERT INTO job_outputs(job_id, kind, idx) VALUES (1, 'gif', 0);"])
        #expect(bad.stderr.contains("output kind must be grid, image, video or text"), "\(bad.stderr)")
        // The connection that ran 0005's schema edit holds the jobs rules too.
        #expect(throws: StoreError.self) { try store.enqueue([NewJob(kind: "nope", prompt: "x")]) }
        #expect(try store.enqueue([NewJob(prompt: "a new fox")]).ids == [2])
    }
}
