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

        let outputs = (db as NSString).deletingLastPathComponent + "/console-outputs"
        let ui = try RunningProcess(queue, ["--db", db, "ui", "--listen", "127.0.0.1:0", "--output-dir", outputs])
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
        rows += try await thumbnails(db: db, outputs: outputs, base: base, jobs: (finished - 19_990)...finished, sqlite3: sqlite3)
        return rows
    }

    /// A tile's first view (its thumbnail made) and later ones (kept), for Midjourney-sized PNGs
    /// (an image 1024², a grid 2048², noisy like a photo so they compress like one), each
    /// first view a file of its own: the median of 20, and the bytes a tile moves.
    func thumbnails(db: String, outputs: String, base: String, jobs: ClosedRange<Int>, sqlite3: String) async throws -> [Row] {
        let sizes = [("image", 1_024), ("grid", 2_048)]
        let candidates = jobs.filter { $0 % 10 != 0 }.prefix(21)
        var sql = "BEGIN;\n"
        for (kind, side) in sizes {
            let source = outputs + "/\(kind)-\(side).png"
            try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
            let made = try Subprocess.run("/usr/bin/env", ["python3", "-c", Self.noisyPNG, source, String(side)], timeout: 300)
            guard made.status == 0 else { throw BenchError("python3 could not write a PNG: \(made.stderr)") }
            for job in candidates {
                let folder = outputs + "/\(job)"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let path = folder + "/\(kind)-0.png"
                try? FileManager.default.removeItem(atPath: path)
                try FileManager.default.copyItem(atPath: source, toPath: path)
                sql += "UPDATE job_outputs SET path = '\(path)' WHERE job_id = \(job) AND kind = '\(kind)' AND idx = 0;\n"
            }
        }
        guard try Subprocess.run(sqlite3, [db], input: sql + "COMMIT;\n").status == 0 else { throw BenchError("pointing outputs at files failed") }
        var rows: [Row] = []
        for (kind, side) in sizes {
            let original = try FileManager.default.attributesOfItem(atPath: outputs + "/\(kind)-\(side).png")[.size] as? Int ?? 0
            var first: [Double] = []
            var kept: [Double] = []
            var bytes = 0
            for (n, job) in candidates.enumerated() {
                let url = base + "/thumbs/\(job)/\(kind)/0"
                var started = Date()
                let (body, status) = try await URLSessionLite.get(url)
                if n > 0 { first.append(Date().timeIntervalSince(started)) }
                guard status == 200 else { throw BenchError("\(url) answered \(status)") }
                bytes = body.count
                started = Date()
                _ = try await URLSessionLite.get(url)
                if n > 0 { kept.append(Date().timeIntervalSince(started)) }
            }
            let settings = "\(side)×\(side) PNG of \(original / 1_000) kB → \(bytes / 1_000) kB WebP"
            for (name, times) in [("first view", first), ("later views", kept)] {
                let sorted = times.sorted()
                rows.append(
                    Row(
                        scenario: "12 console",
                        figure: "thumbnail, \(kind), \(name)",
                        value: format(sorted[sorted.count / 2] * 1000, 1) + " ms",
                        target: "—",
                        settings: settings
                    )
                )
            }
        }
        return rows
    }

    /// Writes argv[1], an argv[2]-square PNG: gradients with noise (zlib level 6, as most encoders).
    static let noisyPNG = """
        import os, struct, sys, zlib
        path, side = sys.argv[1], int(sys.argv[2])
        noise = os.urandom(side * 3)
        rows = []
        for y in range(side):
            g = y * 255 // side
            rows.append(b"\\x00" + bytes((x * 255 // side + noise[(x * 3 + y) % len(noise)] // 4) & 255 if c == 0 else (g + noise[(x * 3 + c + y * 7) % len(noise)] // 4) & 255 if c == 1 else 160 for x in range(side) for c in range(3)))
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        head = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        open(path, "wb").write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b""))
        """
}
