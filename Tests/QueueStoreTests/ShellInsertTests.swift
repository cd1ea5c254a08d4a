import Foundation
import QueueStore
import QueueTestSupport
import Testing

/// What a person typing into `sqlite3` relies on.
@Suite(.enabled(if: hasShell, "needs the sqlite3 shell"))
struct ShellInsertTests {
    @Test func aBareInsertIsAValidQueuedDiffusionJob() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let result = try fixture.shell("INSERT INTO jobs(prompt) VALUES ('a red fox --ar 3:2');")
        #expect(result.status == 0, "\(result.stderr)")
        let job = try #require(try fixture.store.list().first)
        #expect(job.kind == "diffusion")
        #expect(job.state == .queued)
        #expect(job.params == "{}")
        #expect(job.priority == 0)
        #expect(job.attempts == 0)
        let created = try fixture.shell("SELECT created_at FROM jobs;").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(created.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "timestamp \(created)")
        #expect(try fixture.store.status().counts[.queued] == 1)
    }

    @Test(arguments: [
        ("INSERT INTO jobs(prompt) VALUES ('');", "prompt must not be blank"),
        ("INSERT INTO jobs(prompt) VALUES (NULL);", "prompt is required"),
        ("INSERT INTO jobs(kind) VALUES ('diffusion');", "prompt is required"),
        ("INSERT INTO jobs(prompt) VALUES (printf('%.*c', 8193, 'x'));", "longer than 8192"),
        ("INSERT INTO jobs(kind, prompt) VALUES ('imagine', 'x');", "unknown kind"),
        ("INSERT INTO jobs(prompt, params) VALUES ('x', '[1, 2]');", "params must be a JSON object"),
        ("INSERT INTO jobs(prompt, params) VALUES ('x', '{not json');", "params must be a JSON object"),
        ("INSERT INTO jobs(prompt, state) VALUES ('x', 'done');", "unknown state"),
        ("INSERT INTO jobs(kind, params) VALUES ('upscale', '{\"imageNo\": 1}');", "acts on an earlier job"),
        ("INSERT INTO jobs(kind, prompt, params) VALUES ('upscale', 'x', '{\"jobId\": \"a\"}');", "takes no prompt"),
        ("INSERT INTO jobs(prompt, run_after) VALUES ('x', 'tomorrow');", "run_after must be UTC"),
        ("INSERT INTO jobs(prompt, priority) VALUES ('x', 'high');", "priority must be an integer"),
    ])
    func badRowsFailAtInsertWithAReadableMessage(sql: String, message: String) throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let result = try fixture.shell(sql)
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
        #expect(try fixture.store.status().total == 0)
    }

    @Test func longestPromptAndFollowUpsWithAJobIdAreAccepted() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let result = try fixture.shell(
            """
            INSERT INTO jobs(prompt) VALUES (printf('%.*c', 8192, 'x'));
            INSERT INTO jobs(kind, params) VALUES ('upscale', '{"jobId": "remote-1", "imageNo": 2, "type": 0}');
            INSERT INTO jobs(kind, parent_id, params) VALUES ('variation', 1, '{"imageNo": 0, "type": 1}');
            INSERT INTO jobs(prompt, tag, run_after) VALUES ('later', 'crm-42', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour'));
            """
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try fixture.store.status().counts[.queued] == 4)
        #expect(try fixture.store.list(tag: "crm-42").count == 1)
    }

    @Test func aStateChangeFromTheShellIsRecordedAsAnEvent() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let id = try fixture.store.enqueue([NewJob(prompt: "x")]).ids[0]
        #expect(try fixture.shell("UPDATE jobs SET state = 'cancelled' WHERE id = \(id);").status == 0)
        let detail = try fixture.store.detail(id)
        #expect(detail.events.count == 1)
        #expect(detail.events[0].fromState == "queued")
        #expect(detail.events[0].toState == "cancelled")
        #expect(detail.events[0].detail == "changed outside legnext-queue")
        #expect(try fixture.store.status().counts[.cancelled] == 1)
        #expect(try fixture.store.status().counts[.queued] == 0)
    }

    @Test func viewsForPeopleWork() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        _ = try fixture.store.enqueue([NewJob(prompt: "a"), NewJob(prompt: "b")])
        let summary = try fixture.shell(".mode list\nSELECT state, jobs FROM queue_summary;").stdout
        #expect(summary.split(separator: "\n").first == "queued|2")
        #expect(
            try fixture.shell("SELECT count(*) FROM jobs_in_flight; SELECT count(*) FROM recent_failures; SELECT count(*) FROM outputs;").status == 0
        )
    }
}
