import Foundation
import GRDB
import GRDBSQLite
import QueueSupport

extension QueueStore {
    /// Adds `jobs` in one transaction: all of them or none. A job whose idempotency key is
    /// already in the queue (or earlier in the batch) is skipped and reported, not an error.
    ///
    /// Rows go in as multi-row INSERTs of up to ``rowsPerInsert`` jobs, bound through SQLite's C
    /// API: a 100,000-line import is 200 statement runs rather than 100,000.
    public func enqueue(_ jobs: [NewJob]) throws(StoreError) -> EnqueueResult {
        guard !jobs.isEmpty else { return EnqueueResult(ids: [], skippedKeys: []) }
        let createdAt = stamp()
        return try write { db in
            var returned: [(id: Int64, key: String?)] = []
            returned.reserveCapacity(jobs.count)
            var statements: [Int: Statement] = [:]  // by rows × 2 + (RETURNING ? 1 : 0)
            var start = 0
            while start < jobs.count {
                let count = min(Self.rowsPerInsert, jobs.count - start)
                let batch = jobs[start..<(start + count)]
                // Without idempotency keys nothing can be skipped, so the new ids are the
                // `count` consecutive ones ending at the last insert (AUTOINCREMENT, one writer):
                // no RETURNING, which copies every row into a temporary table first.
                let keyed = batch.contains { $0.idempotencyKey != nil }
                let shape = count * 2 + (keyed ? 1 : 0)
                let statement = try statements[shape] ?? db.makeStatement(sql: Self.insertSQL(rows: count, returning: keyed))
                statements[shape] = statement
                do {
                    try Self.insert(batch, createdAt: createdAt, with: statement, returning: keyed, into: &returned)
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    // Find which job broke the rule, so the caller can point at it.
                    throw Self.firstRejected(jobs, in: db, createdAt: createdAt) ?? StoreError.invalid(error.message ?? "rejected")
                }
                start += count
            }
            try Self.foldCounts(db)
            return Self.result(jobs, returned: returned)
        }
    }

    static let rowsPerInsert = 500
    private static let columns = "kind, prompt, params, tag, priority, run_after, idempotency_key, parent_id, account, created_at, updated_at"

    private static func insertSQL(rows: Int, returning: Bool) -> String {
        let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
        return """
            INSERT INTO jobs (\(columns)) VALUES \(values)
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            \(returning ? "RETURNING id, idempotency_key" : "")
            """
    }

    private static func insert(
        _ jobs: ArraySlice<NewJob>,
        createdAt: String,
        with statement: Statement,
        returning: Bool,
        into returned: inout [(id: Int64, key: String?)]
    ) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        var index: Int32 = 1
        func bind(_ text: String?) {
            if let text {
                _ = text.withCString { sqlite3_bind_text(handle, index, $0, -1, sqliteTransient) }
            }  // unbound parameters are NULL after sqlite3_clear_bindings
            index += 1
        }
        for job in jobs {
            bind(job.kind)
            bind(job.prompt)
            bind(job.params)
            bind(job.tag)
            sqlite3_bind_int64(handle, index, Int64(job.priority))
            index += 1
            bind(job.runAfter.map(Timestamp.format))
            bind(job.idempotencyKey)
            if let parent = job.parentId { sqlite3_bind_int64(handle, index, parent) }
            index += 1
            bind(job.account)
            bind(createdAt)
            bind(createdAt)
        }
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(handle)))
                sqlite3_reset(handle)
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
            }
            let id = sqlite3_column_int64(handle, 0)
            let key = sqlite3_column_text(handle, 1).map { String(cString: $0) }
            returned.append((id, key))
        }
        if !returning {
            let last = sqlite3_last_insert_rowid(sqlite3_db_handle(handle))
            for id in (last - Int64(jobs.count) + 1)...last { returned.append((id, nil)) }
        }
    }

    /// Matches the inserted rows back to the input: ids rise in input order, and of several
    /// jobs with one key only the first new one is inserted.
    private static func result(_ jobs: [NewJob], returned: [(id: Int64, key: String?)]) -> EnqueueResult {
        var insertedKeys = Set<String>()
        var ids: [Int64] = []
        ids.reserveCapacity(returned.count)
        for row in returned {
            ids.append(row.id)
            if let key = row.key { insertedKeys.insert(key) }
        }
        ids.sort()
        var result = EnqueueResult(ids: [], skippedKeys: [])
        result.ids.reserveCapacity(ids.count)
        var next = 0
        for job in jobs {
            if let key = job.idempotencyKey {
                guard insertedKeys.remove(key) != nil else {
                    result.skippedKeys.append(key)
                    continue
                }
            }
            result.ids.append(ids[next])
            next += 1
        }
        return result
    }

    /// Inserts the jobs one by one inside a savepoint that is always rolled back, to find the
    /// first one the database rejects.
    private static func firstRejected(_ jobs: [NewJob], in db: Database, createdAt: String) -> StoreError? {
        var rejection: StoreError?
        try? db.inSavepoint {
            guard
                let insert = try? db.makeStatement(
                    sql: """
                        INSERT INTO jobs (\(columns))
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                        """
                )
            else { return .rollback }
            for (index, job) in jobs.enumerated() {
                insert.setUncheckedArguments([
                    job.kind, job.prompt, job.params, job.tag, job.priority, job.runAfter.map(Timestamp.format),
                    job.idempotencyKey, job.parentId, job.account, createdAt, createdAt,
                ])
                do {
                    try insert.execute()
                } catch {
                    rejection = .rejected(index: index, message: (error as? DatabaseError)?.message ?? "\(error)")
                    break
                }
            }
            return .rollback
        }
        return rejection
    }
}

/// SQLite's SQLITE_TRANSIENT: it copies the bound text before the call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
