import Foundation
import GRDB
import QueueSupport

/// Which jobs a listing shows. `text` matches anywhere in the prompt, ignoring ASCII case.
public struct JobFilter: Sendable, Hashable {
    public var state: JobState?
    public var tag: String?
    public var kind: String?
    public var text: String?

    public init(state: JobState? = nil, tag: String? = nil, kind: String? = nil, text: String? = nil) {
        self.state = state
        self.tag = tag
        self.kind = kind
        self.text = text
    }

    /// Neither kind nor text has an index: such a page reads a bounded range of ids.
    var scans: Bool { kind != nil || text != nil }
}

/// One page of a listing, newest first, and where the neighbouring pages start.
public struct JobPage: Sendable {
    public var jobs: [Job]
    /// Ask for `before: older` to go on; nil at the oldest job.
    public var older: Int64?
    /// Ask for `after: newer` to go back; nil at the newest job.
    public var newer: Int64?
    /// For a page that reads ids (a kind or text filter): the ids it read, newest first. Fewer
    /// matches than a page's worth may lie in them; the next page reads on from there.
    public var searched: ClosedRange<Int64>?
}

/// A downloaded image or video, for the gallery.
public struct GalleryItem: Sendable, Hashable {
    public var jobId: Int64
    public var kind: JobOutput.Kind
    public var index: Int
    public var contentType: String?
    public var jobKind: String
    public var prompt: String?
    public var tag: String?
    /// The job's output summary (JSON text: seed, URLs), if it has one.
    public var output: String?
}

/// A page of the gallery, newest job first.
public struct GalleryPage: Sendable {
    public var items: [GalleryItem]
    /// Ask for `before: older` to go on (a job id); nil at the oldest.
    public var older: Int64?
}

/// One tag's jobs per state.
public struct TagProgress: Sendable, Hashable {
    public var tag: String
    public var counts: [JobState: Int]
    public var total: Int { counts.values.reduce(0, +) }
    public var finished: Int { counts.filter { $0.key.isTerminal }.values.reduce(0, +) }
}

/// A downloaded file of an output, as recorded by the downloader.
public struct StoredFile: Sendable, Hashable {
    public var path: String
    public var contentType: String?
    public var size: Int?
}

extension QueueStore {
    /// A page of jobs matching `filter`, newest first: below `before`, or above `after` (the
    /// page before a shown one). Keyset paging on the primary key, the state and the tag
    /// index; never `OFFSET`, never a count of the table. A kind or text filter reads at most
    /// `scanLimit` ids per page.
    public func jobPage(
        _ filter: JobFilter,
        before: Int64? = nil,
        after: Int64? = nil,
        limit: Int = 50,
        scanLimit: Int64 = 50_000
    ) throws(StoreError) -> JobPage {
        try read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let state = filter.state {
                clauses.append("state = ?")
                arguments += [state.rawValue]
            }
            if let tag = filter.tag {
                clauses.append("tag = ?")
                arguments += [tag]
            }
            if let kind = filter.kind {
                clauses.append("kind = ?")
                arguments += [kind]
            }
            if let text = filter.text {
                clauses.append("prompt LIKE ? ESCAPE '\\'")
                arguments += ["%" + Self.likeEscaped(text) + "%"]
            }
            let newest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM jobs") ?? 0
            func fetch(_ bounds: ClosedRange<Int64>, ascending: Bool) throws -> (jobs: [Job], more: Bool) {
                var sql = clauses + ["id BETWEEN ? AND ?"]
                var values = arguments
                values += [bounds.lowerBound, bounds.upperBound, limit + 1]
                sql = [sql.joined(separator: " AND ")]
                var jobs = try Self.jobsLeniently(
                    db,
                    sql: "SELECT * FROM jobs WHERE \(sql[0]) ORDER BY id \(ascending ? "ASC" : "DESC") LIMIT ?",
                    arguments: values
                )
                let more = jobs.count > limit
                if more { jobs.removeLast() }
                if ascending { jobs.reverse() }
                return (jobs, more)
            }
            // Newer than a shown page: read upwards; with no full page above, show the newest.
            if let after, before == nil, after < newest {
                let top = filter.scans ? min(newest, after + scanLimit) : newest
                let (jobs, more) = try fetch((after + 1)...top, ascending: true)
                if more || top < newest {
                    let upper = more ? jobs.first!.id : top
                    return JobPage(
                        jobs: jobs,
                        older: after + 1 > 1 ? jobs.last?.id ?? after + 1 : nil,
                        newer: upper < newest ? upper : nil,
                        searched: filter.scans ? (after + 1)...upper : nil
                    )
                }
            }
            let start = min(before.map { $0 - 1 } ?? newest, newest)
            guard start >= 1 else { return JobPage(jobs: [], older: nil, newer: nil, searched: nil) }
            let bottom = filter.scans ? max(1, start - scanLimit + 1) : 1
            let (jobs, more) = try fetch(bottom...start, ascending: false)
            let lower = more ? jobs.last!.id : bottom
            return JobPage(
                jobs: jobs,
                older: more || lower > 1 ? lower : nil,
                newer: start < newest ? jobs.first?.id ?? start : nil,
                searched: filter.scans ? lower...start : nil
            )
        }
    }

    /// Downloaded images and videos of up to `limit` jobs, newest job first, optionally of one
    /// tag. A job's four images stand for it; its grid shows only when they were not saved.
    public func galleryPage(tag: String? = nil, before: Int64? = nil, limit: Int = 24) throws(StoreError) -> GalleryPage {
        try read { db in
            var sql: String
            var arguments: StatementArguments = []
            if let tag {
                // The tag's index walked newest first, stopping at a page: joining the other way
                // round read every job of the tag and sorted them (a 50,000-job tag: 170 ms).
                sql = """
                    SELECT j.id FROM jobs AS j WHERE j.tag = ?
                    AND EXISTS (SELECT 1 FROM job_outputs AS o WHERE o.job_id = j.id AND o.download_state = 'done' AND o.kind IN ('grid', 'image', 'video'))
                    """
                arguments += [tag]
                if let before {
                    sql += " AND j.id < ?"
                    arguments += [before]
                }
                sql += " ORDER BY j.id DESC LIMIT ?"
            } else {
                sql = """
                    SELECT DISTINCT o.job_id FROM job_outputs AS o
                    WHERE o.download_state = 'done' AND o.kind IN ('grid', 'image', 'video')
                    """
                if let before {
                    sql += " AND o.job_id < ?"
                    arguments += [before]
                }
                sql += " ORDER BY o.job_id DESC LIMIT ?"
            }
            arguments += [limit + 1]
            var ids = try Int64.fetchAll(db, sql: sql, arguments: arguments)
            let more = ids.count > limit
            if more { ids.removeLast() }
            guard let lowest = ids.last else { return GalleryPage(items: [], older: nil) }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT o.job_id, o.kind, o.idx, o.content_type, j.kind, j.prompt, j.tag, j.output
                    FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id
                    WHERE o.job_id IN (SELECT value FROM json_each(?)) AND o.download_state = 'done' AND o.kind IN ('grid', 'image', 'video')
                    ORDER BY o.job_id DESC, CASE o.kind WHEN 'grid' THEN 1 ELSE 0 END, o.kind, o.idx
                    """,
                arguments: ["[" + ids.map(String.init).joined(separator: ",") + "]"]
            )
            let wanted = Set(ids)
            var items: [GalleryItem] = []
            var shown: Set<Int64> = []
            for row in rows {
                let r = RowReader(row)
                guard let jobId = try? r.requiredInt(0, "job_id"), wanted.contains(jobId),
                    let kind = ((try? r.text(1, "kind")) ?? nil).flatMap(JobOutput.Kind.init(rawValue:)),
                    let index = (try? r.int(2, "idx")) ?? nil
                else { continue }
                if kind == .grid, shown.contains(jobId) { continue }
                shown.insert(jobId)
                items.append(
                    GalleryItem(
                        jobId: jobId,
                        kind: kind,
                        index: Int(index),
                        contentType: (try? r.text(3, "content_type")) ?? nil,
                        jobKind: ((try? r.text(4, "kind")) ?? nil) ?? "",
                        prompt: (try? r.text(5, "prompt")) ?? nil,
                        tag: (try? r.text(6, "tag")) ?? nil,
                        output: (try? r.text(7, "output")) ?? nil
                    )
                )
            }
            return GalleryPage(items: items, older: more ? lowest : nil)
        }
    }

    /// The file a downloaded output was saved to, or nil when it was not (yet) saved.
    public func storedFile(jobId: Int64, kind: JobOutput.Kind, index: Int) throws(StoreError) -> StoredFile? {
        try read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT path, content_type, size FROM job_outputs WHERE job_id = ? AND kind = ? AND idx = ? AND download_state = 'done'",
                    arguments: [jobId, kind.rawValue, index]
                )
            else { return nil }
            let r = RowReader(row)
            guard let path = try? r.text(0, "path") else { return nil }
            return StoredFile(
                path: path,
                contentType: (try? r.text(1, "content_type")) ?? nil,
                size: ((try? r.int(2, "size")) ?? nil).map { Int($0) }
            )
        }
    }

    /// Jobs of each tag per state, for the tags of jobs in flight and of the newest `recent`
    /// jobs (at most `tags` of them, newest first): the batches a person is watching. Each
    /// tag is counted through the tag index, so its cost grows with the tag, not the table.
    public func activeTagProgress(recent: Int = 2_000, tags: Int = 8) throws(StoreError) -> [TagProgress] {
        try read { db in
            let names = try String.fetchAll(
                db,
                sql: """
                    SELECT tag FROM (
                        SELECT tag, max(id) AS newest FROM (
                            SELECT id, tag FROM jobs WHERE state IN ('submitting', 'pending', 'staged', 'processing') AND tag IS NOT NULL
                            UNION ALL
                            SELECT id, tag FROM (SELECT id, tag FROM jobs ORDER BY id DESC LIMIT ?) WHERE tag IS NOT NULL
                        ) GROUP BY tag
                    ) ORDER BY newest DESC LIMIT ?
                    """,
                arguments: [recent, tags]
            )
            let count = try db.cachedStatement(sql: "SELECT state, count(*) FROM jobs WHERE tag = ? GROUP BY state")
            return try names.map { name in
                var counts: [JobState: Int] = [:]
                for row in try Row.fetchAll(count, arguments: [name]) {
                    let r = RowReader(row)
                    if let text = try? r.text(0, "state"), let state = JobState(rawValue: text), let n = try? r.int(1, "count") {
                        counts[state] = Int(n)
                    }
                }
                return TagProgress(tag: name, counts: counts)
            }
        }
    }

    /// Jobs finished per minute, from the newest terminal events of the last `window` seconds
    /// (nil when fewer than two ended in it). Reads at most the newest 5,000 events.
    public func finishRate(window: TimeInterval = 600) throws(StoreError) -> Double? {
        let since = Timestamp.format(now().addingTimeInterval(-window))
        return try read { db in
            let stamps = try String.fetchAll(
                db,
                sql: """
                    SELECT at FROM job_events
                    WHERE id > (SELECT coalesce(max(id), 0) FROM job_events) - 5000
                      AND to_state IN ('completed', 'failed') AND at >= ?
                    ORDER BY id DESC LIMIT 500
                    """,
                arguments: [since]
            ).compactMap(Timestamp.parse)
            guard stamps.count >= 2, let newest = stamps.max(), let oldest = stamps.min() else { return nil }
            let span = max(newest.timeIntervalSince(oldest), 1)
            return Double(stamps.count - 1) / span * 60
        }
    }

    /// The distinct tags of the newest `recent` jobs, for filter menus.
    public func recentTags(recent: Int = 5_000) throws(StoreError) -> [String] {
        try read { db in
            try String.fetchAll(
                db,
                sql: "SELECT DISTINCT tag FROM (SELECT tag FROM jobs ORDER BY id DESC LIMIT ?) WHERE tag IS NOT NULL ORDER BY tag",
                arguments: [recent]
            )
        }
    }

    /// The follow-ups of `id` (jobs naming it as parent), oldest first.
    public func followUps(of id: Int64, limit: Int = 100) throws(StoreError) -> [Job] {
        try read { db in
            try Self.jobsLeniently(db, sql: "SELECT * FROM jobs WHERE parent_id = ? ORDER BY id LIMIT ?", arguments: [id, limit])
        }
    }

    static func likeEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

/// A job with its outputs, for `export`.
public struct ExportedJob: Sendable {
    public var job: Job
    public var outputs: [JobOutput]
}

extension QueueStore {
    /// Up to `limit` jobs after id `after`, oldest first, optionally of one tag, with their
    /// outputs: `export` reads the whole queue in such pages, in bounded memory.
    public func exportPage(tag: String?, after: Int64, limit: Int = 1_000) throws(StoreError) -> [ExportedJob] {
        try read { db in
            let jobs =
                if let tag {
                    try Self.jobsLeniently(
                        db,
                        sql: "SELECT * FROM jobs WHERE tag = ? AND id > ? ORDER BY id LIMIT ?",
                        arguments: [tag, after, limit]
                    )
                } else {
                    try Self.jobsLeniently(db, sql: "SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?", arguments: [after, limit])
                }
            guard !jobs.isEmpty else { return [] }
            var outputs: [Int64: [JobOutput]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM job_outputs WHERE job_id IN (SELECT value FROM json_each(?))
                    ORDER BY job_id, CASE kind WHEN 'grid' THEN 0 ELSE 1 END, kind, idx
                    """,
                arguments: ["[" + jobs.map { String($0.id) }.joined(separator: ",") + "]"]
            ) {
                if let output = try? JobOutput(row: row) { outputs[output.jobId, default: []].append(output) }
            }
            return jobs.map { ExportedJob(job: $0, outputs: outputs[$0.id] ?? []) }
        }
    }
}

extension Job {
    /// The Midjourney seed of a completed job, from its output summary.
    public var seed: String? {
        guard let output, let value = try? JSONValue(data: Data(output.utf8)), let seed = value.objectValue?["seed"] else { return nil }
        return seed.stringValue ?? seed.intValue.map(String.init)
    }
}
