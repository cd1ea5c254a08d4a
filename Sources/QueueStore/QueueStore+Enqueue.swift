import Foundation
import GRDB

extension QueueStore {
    /// Adds `jobs` in one transaction: all of them or none. A job whose idempotency key is
    /// already in the queue (or earlier in the batch) is skipped and reported, not an error.
    public func enqueue(_ jobs: [NewJob]) throws(StoreError) -> EnqueueResult {
        let createdAt = stamp()
        return try write { db in
            let insert = try db.makeStatement(
                sql: """
                    INSERT INTO jobs (kind, prompt, params, tag, priority, run_after, idempotency_key, parent_id, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (idempotency_key) DO NOTHING
                    """)
            var result = EnqueueResult(ids: [], skippedKeys: [])
            result.ids.reserveCapacity(jobs.count)
            for (index, job) in jobs.enumerated() {
                insert.setUncheckedArguments([
                    job.kind, job.prompt, job.params, job.tag, job.priority,
                    job.runAfter.map(Timestamp.format), job.idempotencyKey, job.parentId, createdAt, createdAt,
                ])
                do {
                    try insert.execute()
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw StoreError.rejected(index: index, message: error.message ?? "rejected by the database")
                }
                if db.changesCount == 0, let key = job.idempotencyKey {
                    result.skippedKeys.append(key)
                } else {
                    result.ids.append(db.lastInsertedRowID)
                }
            }
            return result
        }
    }
}
