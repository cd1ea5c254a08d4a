import Foundation
import GRDB
import QueueTestSupport
import Testing

@testable import QueueStore

/// The console's listings: keyset pages that meet exactly, bounded scans for text, whole jobs
/// per gallery page, and files looked up by job and index only.
@Suite struct ConsoleQueryTests {
    static func fill(_ store: QueueStore, _ count: Int, tag: (Int) -> String? = { _ in nil }, prompt: (Int) -> String = { "prompt \($0)" }) throws {
        _ = try store.enqueue((1...count).map { NewJob(prompt: prompt($0), tag: tag($0)) })
    }

    /// Walks every page older, then back newer: each job once, in order, and the same pages.
    @Test func pagesMeetExactlyBothWays() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try Self.fill(fixture.store, 123)
        var seen: [Int64] = []
        var pages: [[Int64]] = []
        var page = try fixture.store.jobPage(JobFilter(), limit: 50)
        #expect(page.newer == nil, "the first page is the newest")
        while true {
            pages.append(page.jobs.map(\.id))
            seen += page.jobs.map(\.id)
            guard let older = page.older else { break }
            page = try fixture.store.jobPage(JobFilter(), before: older, limit: 50)
        }
        #expect(seen == Array((1...123).reversed()), "every job once, newest first")
        #expect(pages.map(\.count) == [50, 50, 23])
        let newer: Int64 = try #require(page.newer)
        let back = try fixture.store.jobPage(JobFilter(), after: newer, limit: 50)
        #expect(back.jobs.map(\.id) == pages[1], "newer from the last page is the page before it")
        let newest: Int64 = try #require(back.newer)
        let top = try fixture.store.jobPage(JobFilter(), after: newest, limit: 50)
        #expect(top.jobs.map(\.id) == pages[0] && top.newer == nil, "and again: the first page")
    }

    @Test func stateAndTagFiltersPageOnTheirIndexes() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try Self.fill(fixture.store, 90, tag: { $0 % 3 == 0 ? "thirds" : nil })
        _ = try fixture.store.cancel(Array(stride(from: 2, through: 90, by: 10)))
        let cancelled = try fixture.store.jobPage(JobFilter(state: .cancelled), limit: 5)
        #expect(cancelled.jobs.map(\.id) == [82, 72, 62, 52, 42])
        let older: Int64 = try #require(cancelled.older)
        let rest = try fixture.store.jobPage(JobFilter(state: .cancelled), before: older, limit: 5)
        #expect(rest.jobs.map(\.id) == [32, 22, 12, 2] && rest.older == nil)
        let tagged = try fixture.store.jobPage(JobFilter(tag: "thirds"), limit: 100)
        #expect(tagged.jobs.count == 30 && tagged.jobs.allSatisfy { $0.tag == "thirds" } && tagged.searched == nil)
        for (filter, index) in [(JobFilter(state: .cancelled), "jobs_state"), (JobFilter(tag: "thirds"), "jobs_tag")] {
            var sql = "SELECT * FROM jobs WHERE "
            sql += filter.state != nil ? "state = 'cancelled'" : "tag = 'thirds'"
            sql += " AND id BETWEEN 1 AND 90 ORDER BY id DESC LIMIT 51"
            let plan = try fixture.store.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String } }
            #expect(plan.contains { $0.contains(index) } && !plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }

    /// Text has no index: a page reads a bounded range of ids, says which, and the next page
    /// reads on from there, so a rare match is found without reading the whole table at once.
    @Test func aTextSearchReadsABoundedRangePerPage() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try Self.fill(fixture.store, 100, prompt: { $0 == 15 || $0 == 95 ? "a 100% Fox_ here" : "prompt \($0)" })
        let filter = JobFilter(text: "100% fox_")
        let first = try fixture.store.jobPage(filter, limit: 10, scanLimit: 30)
        #expect(first.jobs.map(\.id) == [95] && first.searched == 71...100 && first.older == 71)
        let second = try fixture.store.jobPage(filter, before: 71, limit: 10, scanLimit: 30)
        #expect(second.jobs.isEmpty && second.searched == 41...70 && second.older == 41 && second.newer != nil)
        let third = try fixture.store.jobPage(filter, before: 41, limit: 10, scanLimit: 30)
        #expect(third.jobs.map(\.id) == [15] && third.searched == 11...40)
        let last = try fixture.store.jobPage(filter, before: 11, limit: 10, scanLimit: 30)
        #expect(last.jobs.isEmpty && last.searched == 1...10 && last.older == nil)
        let escaped = try fixture.store.jobPage(JobFilter(text: "1_0"), limit: 10, scanLimit: 1_000)
        #expect(escaped.jobs.isEmpty, "_ is a character, not a wildcard: \(escaped.jobs.map(\.prompt))")
        let middle = try fixture.store.jobPage(filter, before: 50, limit: 10, scanLimit: 100)
        #expect(middle.jobs.map(\.id) == [15])
    }

    @Test func theGalleryPagesWholeJobsAndShowsImagesOverTheGrid() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        guard hasShell else { return }
        try Self.fill(fixture.store, 6, tag: { $0 <= 2 || $0 == 6 ? "a" : "b" })
        // Job 6 has only a text output and an image still downloading: no tile.
        var sql = """
            INSERT INTO job_outputs (job_id, kind, idx, text) VALUES (6, 'text', 0, 'a description');
            INSERT INTO job_outputs (job_id, kind, idx, url, download_state) VALUES (6, 'image', 0, 'https://x/6', 'pending');

            """
        for job in 1...5 {
            sql +=
                "INSERT INTO job_outputs (job_id, kind, idx, url, download_state, path) VALUES (\(job), 'grid', 0, 'https://x/g', 'done', '/x/\(job)/grid.png');\n"
            // Job 3's images were not saved: its grid stands for it.
            for index in 0..<4 {
                sql +=
                    "INSERT INTO job_outputs (job_id, kind, idx, url, download_state, path) VALUES (\(job), 'image', \(index), 'https://x/\(index)', '\(job == 3 ? "failed" : "done")', '/x/\(job)/\(index).png');\n"
            }
        }
        let result = try fixture.shell(sql)
        #expect(result.status == 0, "\(result.stderr)")
        let first = try fixture.store.galleryPage(limit: 2)
        #expect(
            first.items.map { "\($0.jobId)\($0.kind.rawValue.prefix(1))\($0.index)" } == ["5i0", "5i1", "5i2", "5i3", "4i0", "4i1", "4i2", "4i3"]
        )
        #expect(first.older == 4)
        let second = try fixture.store.galleryPage(before: 4, limit: 2)
        #expect(second.items.map { "\($0.jobId)\($0.kind.rawValue.prefix(1))\($0.index)" } == ["3g0", "2i0", "2i1", "2i2", "2i3"])
        let tagged = try fixture.store.galleryPage(tag: "a", limit: 10)
        #expect(Set(tagged.items.map(\.jobId)) == [1, 2] && tagged.older == nil)
        let taggedFirst = try fixture.store.galleryPage(tag: "a", limit: 1)
        #expect(Set(taggedFirst.items.map(\.jobId)) == [2] && taggedFirst.older == 2)
        let taggedSecond = try fixture.store.galleryPage(tag: "a", before: 2, limit: 1)
        #expect(Set(taggedSecond.items.map(\.jobId)) == [1] && taggedSecond.older == nil)
        #expect(try fixture.store.storedFile(jobId: 3, kind: .image, index: 0) == nil, "not saved, not served")
        #expect(try fixture.store.storedFile(jobId: 3, kind: .grid, index: 0)?.path == "/x/3/grid.png")
    }

    @Test func batchesInProgressAreCountedPerState() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try Self.fill(fixture.store, 10, tag: { $0 <= 4 ? "old" : "new" })
        _ = try fixture.store.cancel([1, 5, 6])
        let progress = try fixture.store.activeTagProgress()
        #expect(progress.map(\.tag) == ["new", "old"], "the newest batch first")
        #expect(progress[0].counts == [.queued: 4, .cancelled: 2] && progress[0].finished == 2 && progress[0].total == 6)
        #expect(progress[1].counts == [.queued: 3, .cancelled: 1])
        #expect(try fixture.store.finishRate() == nil, "no job finished at Legnext yet")
    }
}
