import GRDB
import Testing

@testable import QueueStore

/// The daemon's hot queries use the indexes made for them, whatever SQLite's planner guesses.
@Suite struct QueryPlanTests {
    /// The claim's plan, for account a of a and b.
    static func claimPlan() async throws -> [String] {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        return try await fixture.store.read { db in
            try Row.fetchAll(
                db,
                sql: "EXPLAIN QUERY PLAN " + QueueStore.claimCandidatesSQL,
                arguments: ["2026-01-01T00:00:00.000Z", 64, "a", #"["a", "b"]"#, "default"]
            )
            .map { $0["detail"] as String }
        }
    }

    @Test func theClaimWalksItsIndexInsteadOfSortingTheQueue() async throws {
        let plan = try await Self.claimPlan()
        #expect(plan.contains { $0.contains("jobs_claim") }, "\(plan)")
        // The two lists (unpinned, pinned to this account) come in index order, LIMITed to a
        // claim's size each; only those few rows are sorted for their merge.
        #expect(plan.contains { $0.contains("SCAN j USING INDEX jobs_claim") }, "no sort of every queued row per claim: \(plan)")
        #expect(plan.filter { $0.contains("TEMP B-TREE") }.count <= 2, "\(plan)")
    }

    /// Settling asks which Legnext ids rows hold, and adoption who holds one: both by the
    /// index of 0008, never a scan of every row.
    @Test func legnextIdsAreLookedUpByTheirIndex() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        for (sql, arguments) in [
            (QueueStore.heldRemoteIdsSQL, [#"["a", "b"]"#] as StatementArguments),
            (QueueStore.holderSQL, ["a", 1] as StatementArguments),
        ] {
            let plan = try await fixture.store.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
            }
            #expect(plan.contains { $0.contains("jobs_remote_job_id") }, "\(plan)")
            #expect(!plan.contains { $0 == "SCAN jobs" }, "\(plan)")
        }
    }
}
