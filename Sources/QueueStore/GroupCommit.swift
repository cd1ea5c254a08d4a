import GRDB
import Synchronization

/// Group commit for the async writes: writes that arrive while a commit is under way wait, and
/// the next commit takes all of them in one transaction. Nobody returns before the commit that
/// holds their write, and each write stays all-or-nothing: if one throws, the transaction is
/// undone and the batch runs again with every write in a savepoint of its own, so the failing
/// one is undone alone. (Savepoints on every write cost a journal copy of each page they touch;
/// failures are rare, so they are only paid for when one happens.)
///
/// A busy daemon records hundreds of answers a second; one transaction each cost a WAL append
/// of every page touched and a trip through the writer queue per job. No timer: a lone write
/// commits at once, and a batch is whatever queued up during the previous commit. The caller
/// that finds nobody committing leads; when it is done it hands the lead to the first write that
/// queued meanwhile.
final class GroupCommit: Sendable {
    private let pool: DatabasePool
    private let path: String
    private let state = Mutex(Queue())

    private struct Queue {
        var waiting: [Pending] = []
        var leading = false
        var nextTicket = 0
        var transactions = 0
    }

    /// Writes waiting for the next commit, and transactions committed so far (for tests and
    /// benchmarks to see the grouping).
    var waitingCount: Int { state.withLock { $0.waiting.count } }
    var transactionCount: Int { state.withLock { $0.transactions } }

    private struct Pending: Sendable {
        let ticket: Int
        /// Runs the write, keeps its result, and throws its error.
        let run: @Sendable (Database) throws -> Void
        /// Runs the write in a savepoint and keeps its result or error.
        let runAlone: @Sendable (Database) -> Void
        let continuation: CheckedContinuation<Turn, Never>
    }

    private enum Turn: Sendable {
        case committed
        case failed(StoreError)
        case lead
    }

    init(pool: DatabasePool, path: String) {
        self.pool = pool
        self.path = path
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        let outcome = Outcome<T>()
        let path = self.path
        let run: @Sendable (Database) throws -> Void = { db in outcome.set(.success(try body(db))) }
        let runAlone: @Sendable (Database) -> Void = { db in
            do {
                try db.inSavepoint {
                    try run(db)
                    return .commit
                }
            } catch {
                outcome.set(.failure(StoreError(error, path: path)))
            }
        }
        var ticket = 0
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let lead = state.withLock { queue -> Bool in
                ticket = queue.nextTicket
                queue.nextTicket += 1
                queue.waiting.append(Pending(ticket: ticket, run: run, runAlone: runAlone, continuation: continuation))
                guard !queue.leading else { return false }
                queue.leading = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .committed: break
        case .failed(let error): throw error
        case .lead:
            if let error = await commitWaiting(leader: ticket) { throw error }
        }
        guard let result = outcome.get() else { throw StoreError.database(path: path, detail: "a grouped write left no result") }
        return try result.get()
    }

    /// Commits everything waiting (the leader's own write included), wakes the others, and
    /// hands the lead on. Returns the commit's error, if it failed.
    private func commitWaiting(leader: Int) async -> StoreError? {
        let batch = state.withLock { queue in
            defer { queue.waiting.removeAll(keepingCapacity: true) }
            return queue.waiting
        }
        var failure: StoreError?
        let pool = self.pool
        do {
            // In a task of its own: the leader may be a cancelled task (a helper stopping at
            // shutdown), and its cancellation must not fail the writes of the others.
            try await Task {
                try await pool.writeWithoutTransaction { db in
                    do {
                        try db.inTransaction(.immediate) {
                            for pending in batch { try pending.run(db) }
                            return .commit
                        }
                    } catch let error as DatabaseError where Self.abortsTransaction(error) {
                        throw error
                    } catch {
                        try db.inTransaction(.immediate) {
                            for pending in batch { pending.runAlone(db) }
                            return .commit
                        }
                    }
                }
            }.value
        } catch {
            failure = StoreError(error, path: path)
        }
        for pending in batch where pending.ticket != leader {
            pending.continuation.resume(returning: failure.map(Turn.failed) ?? .committed)
        }
        let next = state.withLock { queue -> Pending? in
            if failure == nil { queue.transactions += 1 }
            guard let first = queue.waiting.first else {
                queue.leading = false
                return nil
            }
            return first
        }
        next?.continuation.resume(returning: .lead)
        return failure
    }

    /// Errors that are the database's, not one write's: running the batch again cannot help.
    private static func abortsTransaction(_ error: DatabaseError) -> Bool {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOMEM, .SQLITE_CORRUPT, .SQLITE_READONLY: true
        default: false
        }
    }
}

/// Where a grouped write leaves its result for its caller.
private final class Outcome<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, StoreError>?>(nil)
    func set(_ value: Result<T, StoreError>) { result.withLock { $0 = value } }
    func get() -> Result<T, StoreError>? { result.withLock { $0 } }
}
