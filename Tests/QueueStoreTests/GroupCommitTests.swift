import Foundation
import GRDB
import QueueTestSupport
import Testing

@testable import QueueStore

/// Writes that queue up behind a commit share the next transaction, and each stays all-or-nothing.
@Suite struct GroupCommitTests {
    /// Holds the writer inside a first write until `count` more writes are waiting, then lets
    /// them all go; returns each write's result.
    private func writesQueuedBehindAHeldCommit(
        _ fixture: StoreFixture,
        count: Int,
        body: @escaping @Sendable (Int, Database) throws -> Int64
    ) async throws -> (first: Int64, results: [Int: Result<Int64, StoreError>]) {
        let release = DispatchSemaphore(value: 0)
        let holding = Box(false)
        let store = fixture.store
        async let first = store.write { db -> Int64 in
            holding.value = true
            release.wait()
            return try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES ('first') RETURNING id")!
        }
        #expect(await eventuallyAsync(timeout: 20) { holding.value })
        let results = try await withThrowingTaskGroup(of: (Int, Result<Int64, StoreError>).self) { group in
            for index in 0..<count {
                group.addTask {
                    do throws(StoreError) {
                        return (index, .success(try await store.write { db in try body(index, db) }))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            #expect(await eventuallyAsync(timeout: 20) { store.groupCommit.waitingCount == count }, "all queued behind the held commit")
            release.signal()
            var results: [Int: Result<Int64, StoreError>] = [:]
            for try await (index, result) in group { results[index] = result }
            return results
        }
        return (try await first, results)
    }

    @Test func writesThatWaitTogetherCommitTogether() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let (first, results) = try await writesQueuedBehindAHeldCommit(fixture, count: 50) { index, db in
            try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES (?) RETURNING id", arguments: ["prompt \(index)"])!
        }
        #expect(first == 1)
        #expect(Set(results.values.compactMap { try? $0.get() }) == Set(2...51), "each write gets its own answer")
        #expect(fixture.store.groupCommit.transactionCount == 2, "the held write, then the fifty in one transaction")
        let stored = try await fixture.store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs")! }
        #expect(stored == 51)
    }

    @Test func aFailingWriteIsUndoneAloneAndSaysWhy() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        struct Refused: Error {}
        let (_, results) = try await writesQueuedBehindAHeldCommit(fixture, count: 20) { index, db in
            switch index {
            case 7:
                // Refused by the schema's own check.
                return try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt, priority) VALUES ('bad', 'high') RETURNING id")!
            case 13:
                // Wrote, then threw: what it wrote must go too.
                try db.execute(sql: "INSERT INTO jobs (prompt) VALUES ('half done')")
                throw Refused()
            default:
                return try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES (?) RETURNING id", arguments: ["prompt \(index)"])!
            }
        }
        guard case .failure(.invalid(let message)) = results[7] else {
            Issue.record("the bad row: \(String(describing: results[7]))")
            return
        }
        #expect(message.contains("priority must be an integer"))
        guard case .failure(.database) = results[13] else {
            Issue.record("the throwing write: \(String(describing: results[13]))")
            return
        }
        #expect(results.values.filter { (try? $0.get()) != nil }.count == 18)
        let prompts = try await fixture.store.read { db in try String.fetchAll(db, sql: "SELECT prompt FROM jobs") }
        #expect(prompts.count == 19, "the held write and the 18 good ones")
        #expect(!prompts.contains("half done") && !prompts.contains("bad"))
    }
}

extension GroupCommitTests {
    /// A write whose task was cancelled may lead the next commit; the others in it must still land.
    @Test func aCancelledLeaderDoesNotFailTheOthers() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let store = fixture.store
        let release = DispatchSemaphore(value: 0)
        let holding = Box(false)
        async let held = store.write { db -> Int64 in
            holding.value = true
            release.wait()
            return try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES ('held') RETURNING id")!
        }
        #expect(await eventuallyAsync(timeout: 20) { holding.value })
        // First in line behind the held commit, so it leads the next one: and it is cancelled.
        let cancelled = Task {
            try await store.write { db in try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES ('cancelled') RETURNING id")! }
        }
        #expect(await eventuallyAsync(timeout: 20) { store.groupCommit.waitingCount == 1 })
        cancelled.cancel()
        let other = Task {
            try await store.write { db in try Int64.fetchOne(db, sql: "INSERT INTO jobs (prompt) VALUES ('other') RETURNING id")! }
        }
        #expect(await eventuallyAsync(timeout: 20) { store.groupCommit.waitingCount == 2 })
        release.signal()
        _ = try await held
        #expect(try await other.value == 3, "the other write is committed")
        _ = await cancelled.result
        let prompts = try await store.read { db in try String.fetchAll(db, sql: "SELECT prompt FROM jobs ORDER BY id") }
        #expect(prompts == ["held", "cancelled", "other"], "a write that was asked for is written, cancelled or not")
    }
}
