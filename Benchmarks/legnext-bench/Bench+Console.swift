import Foundation
import QueueTestSupport

extension Bench {
    /// Page load times of the web console over a queue of a million jobs (900,000 finished, a
    /// tenth of them failed, in tags of 50,000; the newest 100,000 queued; 20,000 jobs' outputs
    /// saved), served by `legnext-queue ui`: the median of 20 loads of each page, as a browser's
    /// first request for the HTML (the images and the script are separate requests).
    func console() async throws -> [Row] {
        guard let sqlite3 = Subprocess.sqlite3 else { throw BenchError("the console scenario builds its queue with the sqlite3 shell") }
        let count = quick ? 200_000 : 1_000_000
        let finished = count * 9 / 10
        let db = freshDatabase("console.db")
        guard try Subprocess.run(queue, ["--db", db, "migrate"]).status == 0 else { throw BenchError("migrate failed") }
        // Through the states the daemon would take them (the schema refuses a shortcut).
        let sql = """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(count))
            INSERT INTO jobs (prompt, tag) SELECT 'a cat number ' || i || ' in the style of painter ' || (i % 97), 'batch-' || (i / 50000) FROM n;
            BEGIN;
            UPDATE jobs SET attempts = 1, state = 'submitting' WHERE id <= \(finished) OR id > \(count - 10);
            UPDATE jobs SET state = 'pending', remote_job_id = lower(hex(randomblob(16))), submitted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE state = 'submitting';
            UPDATE jobs SET state = 'processing' WHERE state = 'pending';
            UPDATE jobs SET state = CASE WHEN id % 10 = 0 THEN 'failed' ELSE 'completed' END,
                finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), credits_used = 80,
                error = CASE WHEN id % 10 = 0 THEN 'Legnext refused the job: HTTP 403: sensitive content' END,
                output = CASE WHEN id % 10 = 0 THEN NULL ELSE '{"seed":"' || (id * 7919) || '"}' END
            WHERE id <= \(finished);
            INSERT INTO job_outputs (job_id, kind, idx, url, download_state, path, content_type, size)
            SELECT j.id, k.kind, k.idx, 'https://cdn.example/' || j.id || '/' || k.idx || '.png', 'done',
                   '/nowhere/' || j.id || '/' || k.kind || '-' || k.idx || '.png', 'image/png', 1000000
            FROM jobs AS j, (SELECT 'grid' AS kind, 0 AS idx UNION ALL SELECT 'image', 0 UNION ALL SELECT 'image', 1
                             UNION ALL SELECT 'image', 2 UNION ALL SELECT 'image', 3) AS k
            WHERE j.id > \(finished - 20_000) AND j.id <= \(finished) AND j.state = 'completed';
            COMMIT;
            """
        let built = try Subprocess.run(sqlite3, [db], input: sql, timeout: 1800)
        guard built.status == 0 else { throw BenchError("building the queue failed: \(built.stderr)") }
        guard try Subprocess.run(queue, ["--db", db, "status"]).status == 0 else { throw BenchError("status failed") }

        let ui = try RunningProcess(queue, ["--db", db, "ui", "--listen", "127.0.0.1:0"])
        defer { stop(ui) }
        var base: String?
        _ = eventually(timeout: 30) {
            base = (ui.output + ui.errors).split(separator: "\n").first { $0.contains("console on") }?.split(separator: " ").last.map {
                String($0.dropLast())
            }
            return base != nil
        }
        guard let base else { throw BenchError("the console did not start: \(ui.errors)") }
        let middle = count / 2
        let pages: [(String, String)] = [
            ("overview", "/"),
            ("jobs, newest", "/jobs"),
            ("jobs, older page", "/jobs?before=\(middle)"),
            ("jobs, state=failed", "/jobs?state=failed&before=\(middle)"),
            ("jobs, tag", "/jobs?tag=batch-3"),
            ("jobs, text (one page's ids)", "/jobs?q=painter+96"),
            ("job page", "/jobs/\(finished - 1)"),
            ("gallery", "/gallery"),
            ("gallery, tag", "/gallery?tag=batch-\((finished - 30_000) / 50_000)"),
        ]
        var rows: [Row] = []
        let settings = "\(count) jobs, \(finished) finished, outputs of 20,000"
        func measure(_ name: String, _ path: String) async throws {
            var times: [Double] = []
            var status = 0
            for attempt in 0..<21 {
                let started = Date()
                let (_, code) = try await URLSessionLite.get(base + path)
                if attempt > 0 { times.append(Date().timeIntervalSince(started)) }
                status = code
            }
            guard status == 200 else { throw BenchError("\(path) answered \(status)") }
            times.sort()
            rows.append(
                Row(
                    scenario: "12 console",
                    figure: name,
                    value: format(times[times.count / 2] * 1000, 1) + " ms",
                    target: "≤ 100 ms",
                    settings: settings
                )
            )
        }
        // Rows written by the sqlite3 shell are counted on the fly until a writer folds them
        // into the counters (the daemon does on its heartbeat, `enqueue` when it adds jobs).
        try await measure("overview, counters not folded", "/")
        try enqueue(db, count: 1, prefix: "fold")
        for (name, path) in pages { try await measure(name, path) }
        return rows
    }
}
