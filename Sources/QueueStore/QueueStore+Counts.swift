import GRDB

/// Jobs per state in O(1)-ish: `state_counts` covers the rows up to `totals.counted_through`,
/// and the few newer ones are counted through the `jobs_state` index (see the migration).
extension QueueStore {
    /// Exact counts of every state.
    static func stateCounts(_ db: Database) throws -> [JobState: Int] {
        let through = try Int64.fetchOne(db, sql: "SELECT counted_through FROM totals WHERE id = 1") ?? 0
        var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
        for row in try Row.fetchAll(db, sql: "SELECT state, jobs FROM state_counts") {
            let r = RowReader(row)
            if let name = try? r.text(0, "state"), let state = JobState(rawValue: name), let jobs = try? r.int(1, "jobs") {
                counts[state] = Int(jobs)
            }
        }
        let newer = try db.cachedStatement(sql: "SELECT count(*) FROM jobs WHERE state = ? AND id > ?")
        for state in JobState.allCases {
            counts[state, default: 0] += try Int.fetchOne(newer, arguments: [state.rawValue, through]) ?? 0
        }
        return counts
    }

    /// Folds the rows newer than `counted_through` into `state_counts` (inside a write transaction).
    static func foldCounts(_ db: Database) throws {
        let through = try Int64.fetchOne(db, sql: "SELECT counted_through FROM totals WHERE id = 1") ?? 0
        guard let newest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM jobs"), newest > through else { return }
        let newer = try db.cachedStatement(sql: "SELECT count(*) FROM jobs WHERE state = ? AND id > ? AND id <= ?")
        let add = try db.cachedStatement(sql: "UPDATE state_counts SET jobs = jobs + ? WHERE state = ?")
        for state in JobState.allCases {
            let count = try Int.fetchOne(newer, arguments: [state.rawValue, through, newest]) ?? 0
            if count > 0 { try add.execute(arguments: [count, state.rawValue]) }
        }
        try db.execute(sql: "UPDATE totals SET counted_through = ? WHERE id = 1", arguments: [newest])
    }

    /// Folds newer rows into the counters (the daemon does this on its heartbeat).
    public func foldCounts() async throws(StoreError) {
        try await write { db in try Self.foldCounts(db) }
    }

    /// Counts every row again, from scratch: heals counters a person may have upset by hand
    /// (say, an id inserted below the newest). O(rows); the daemon does it once at start-up, and
    /// counts the points again when it records its accounts (``recountPoints(_:)``).
    public func recount() async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE state_counts SET jobs = 0")
            try db.execute(
                sql: """
                    UPDATE state_counts SET jobs = (SELECT count(*) FROM jobs WHERE jobs.state = state_counts.state)
                    """
            )
            try db.execute(sql: "UPDATE totals SET counted_through = coalesce((SELECT max(id) FROM jobs), 0) WHERE id = 1")
        }
    }

    /// Counts the points spent again from the jobs themselves, per account and in all, in one
    /// scan (inside a write transaction, once a start): an account new to this start may have
    /// sent jobs already (`default` did, before accounts existed), and a row a person inserted
    /// with its points, or moved to another account, is seen by no trigger. The triggers keep
    /// the sums from here on.
    static func recountPoints(_ db: Database) throws {
        let spent = try Row.fetchAll(
            db,
            sql: """
                SELECT coalesce(remote_account, 'default'), sum(CAST(credits_used AS INTEGER)) FROM jobs
                WHERE credits_used IS NOT NULL GROUP BY 1
                """
        )
        try db.execute(sql: "UPDATE accounts SET credits_used = 0")
        let perAccount = try db.cachedStatement(sql: "UPDATE accounts SET credits_used = ? WHERE name = ?")
        var total: Int64 = 0
        for row in spent {
            let r = RowReader(row)
            guard let points = try? r.int(1, "points") else { continue }
            total += points
            if let name = try? r.text(0, "account") { try perAccount.execute(arguments: [points, name]) }
        }
        try db.execute(sql: "UPDATE totals SET credits_used = ? WHERE id = 1", arguments: [total])
    }
}
