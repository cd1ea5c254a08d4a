import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Testing

/// `enqueue --file`: one transaction, every bad line reported.
@Suite struct ImportTests {
    @Test func tenThousandLinesWithOneBadLineLeaveNothingBehind() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        var lines = (1...10_000).map { "prompt number \($0) --ar 3:2" }
        lines[5_000] = #"{"prompt": "bad", "kind": "imagine"}"#
        let file = cli.dir.file("prompts.txt")
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try cli.run(["enqueue", "--file", file])
        #expect(result.status == 65)
        #expect(result.stderr.contains("\(file):5001: unknown kind \"imagine\""))
        #expect(result.stderr.contains("nothing was enqueued"))
        #expect(try cli.run(["status"]).status == 66, "checked before the database was even created")

        lines[5_000] = #"{"prompt": "good again", "tag": "t", "priority": 2, "key": "k-1", "params": {}}"#
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let good = try cli.run(["enqueue", "--file", file])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.split(separator: "\n").count == 10_000)
        #expect(try cli.count("queued") == 10_000)
        // The same file again: only the keyed line is skipped; plain prompts have no key.
        let again = try cli.run(["enqueue", "--file", file, "--json"])
        let summary = try JSONValue(data: Data(again.stdout.utf8))
        #expect(summary["skipped"] == 1)
        #expect(summary["ids"]?.arrayValue?.count == 9_999)
    }

    @Test func everyBadLineIsReportedWithItsNumber() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let text = """
            a fine prompt

            {"prompt": "x", "params": [1]}
            {"prompt": "y", "colour": "red"}
            {"kind": "upscale", "params": {"imageNo": 9, "type": 0, "jobId": "3f2b9c1e-8d4a-4e6f-9b7c-2a1d0e5f6c7b"}}
            {not json
            """
        let result = try cli.run(["enqueue", "--file", "-"], input: text)
        #expect(result.status == 65)
        #expect(result.stderr.contains("<stdin>:3: params must be a JSON object"))
        #expect(result.stderr.contains("<stdin>:4: unknown field \"colour\""))
        #expect(result.stderr.contains("<stdin>:5: imageNo must be 0–3 (got 9)"))
        #expect(result.stderr.contains("<stdin>:6: the line starts with '{' but is not a JSON object"))
        #expect(!result.stderr.contains("<stdin>:1:"))
        #expect(try cli.run(["status"]).status == 66)
    }

    @Test func flagsAreDefaultsForEveryLine() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let text = """
            plain
            {"prompt": "own tag", "tag": "mine"}
            """
        #expect(try cli.run(["enqueue", "--file", "-", "--tag", "batch", "--priority", "4"], input: text).status == 0)
        let jobs = try #require(try cli.json(["list"]).arrayValue)
        #expect(jobs.map { $0["tag"] } == ["mine", "batch"])
        #expect(jobs.allSatisfy { $0["priority"] == 4 })
    }

    @Test(.enabled(if: Subprocess.sqlite3 != nil, "needs the sqlite3 shell"))
    func enqueueWaitsOutAShellHoldingTheWriteLock() throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        try cli.run(["migrate"])
        let shell = try RunningProcess(Subprocess.sqlite3!, [cli.db])
        shell.write("BEGIN IMMEDIATE;\nINSERT INTO jobs(prompt) VALUES ('shell');\n.shell echo locked\n.shell sleep 2\nCOMMIT;\n")
        shell.closeInput()
        #expect(eventually(timeout: 10) { shell.output.contains("locked") })
        let result = try cli.run(["enqueue", "while locked"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(shell.wait().status == 0)
        #expect(try cli.count("queued") == 2)
    }
}
