import Foundation
import GRDB
import Migrations
import QueueSupport

/// The one owner of the queue database: opens it (WAL, busy timeout, foreign keys),
/// migrates it, and holds every SQL statement the program runs.
public struct QueueStore: Sendable {
    /// Path of the database file.
    public let path: String
    let pool: DatabasePool
    let groupCommit: GroupCommit
    /// "Now" for timestamps the store writes on the caller's behalf; injected for tests.
    let now: @Sendable () -> Date

    /// How to open the database.
    public struct Options: Sendable {
        /// Create the file when it is missing (otherwise ``StoreError/noDatabase(path:)``).
        public var create: Bool
        /// Apply pending migrations on open (otherwise an old schema is ``StoreError/outdatedSchema(path:found:needed:)``).
        public var migrate: Bool
        /// How long a statement waits for another process's write lock before failing with ``StoreError/busy(path:detail:)``.
        public var busyTimeout: Duration
        /// Check the schema version on open (off only for `migrate`, which checks it itself).
        public var checkSchema: Bool

        public init(create: Bool = false, migrate: Bool = false, busyTimeout: Duration = .seconds(5), checkSchema: Bool = true) {
            self.create = create
            self.migrate = migrate
            self.busyTimeout = busyTimeout
            self.checkSchema = checkSchema
        }
    }

    /// Opens the database at `path`, checks its schema version, and migrates it when asked.
    public static func open(
        path: String,
        options: Options = .init(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(StoreError) -> QueueStore {
        if !FileManager.default.fileExists(atPath: path) {
            guard options.create else { throw .noDatabase(path: path) }
            // Made here so it is group-writable (0660 less the umask): SQLite would make it 0644,
            // and its -wal and -shm copy the database's mode, so operators in the group could read
            // the queue but not add work with `sqlite3`.
            createEmptyFile(path, mode: 0o660)
        }
        // SQLite names the -wal and -shm files after the path it was given: through a second
        // hard link the same file gets a journal of its own, and two journals over one file
        // corrupt it (and hide one daemon from another).
        var info = stat()
        if stat(path, &info) == 0, info.st_nlink > 1 {
            throw .multipleLinks(path: path, links: Int(info.st_nlink))
        }
        var config = Configuration()
        config.busyMode = .callback(Self.busyHandler(timeout: options.busyTimeout))
        config.foreignKeysEnabled = true
        config.maximumReaderCount = 4
        config.label = "legnext-queue"
        config.prepareDatabase { db in
            // WAL + NORMAL survives any process crash; the engine raises it to FULL for the
            // write-ahead claim, the one commit that must survive a power cut.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Statement and savepoint journals in memory: on disk each write transaction
            // created, filled and unlinked a file in /var/tmp (40 writes per job in a drain).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError(error, path: path)
        }
        let store = QueueStore(path: path, pool: pool, groupCommit: GroupCommit(pool: pool, path: path), now: now)
        guard options.checkSchema else { return store }
        let version = try store.schemaVersion()
        if version > Migration.latestVersion {
            throw .newerSchema(path: path, found: version, known: Migration.latestVersion)
        }
        if version < Migration.latestVersion {
            if options.migrate {
                try store.migrate()
            } else {
                throw .outdatedSchema(path: path, found: version, needed: Migration.latestVersion)
            }
        }
        return store
    }

    /// Waits for another process's lock in short steps: 1 ms for the first 100 ms, then 5 ms,
    /// then 20 ms, until `timeout`. SQLite's own handler sleeps 1, 2, 5 … 100 ms in turn, so a
    /// claim that met a `sqlite3` shell committing a row (the inotify wake-up comes with the
    /// shell's first write, before its fsync) could sleep ~100 ms past the moment the lock
    /// was free.
    static func busyHandler(timeout: Duration) -> Database.BusyCallback {
        let limit = Double(timeout.components.seconds) * 1000 + Double(timeout.components.attoseconds) * 1e-15
        return { tries in
            let waited: Double
            let step: Double
            switch tries {
            case ..<100: (waited, step) = (Double(tries), 1)
            case ..<300: (waited, step) = (100 + Double(tries - 100) * 5, 5)
            default: (waited, step) = (1100 + Double(tries - 300) * 20, 20)
            }
            guard waited < limit else { return false }
            usleep(useconds_t(min(step, limit - waited) * 1000))
            return true
        }
    }

    /// Runs `body` in one IMMEDIATE write transaction, mapping SQLite errors to ``StoreError``.
    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.write(body)
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Async form of ``write(_:)`` for callers on the concurrency pool: writes that arrive
    /// together share one transaction (``GroupCommit``), each still all-or-nothing.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        try await groupCommit.write(body)
    }

    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw StoreError(error, path: path)
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Runs `body` outside any transaction on the writer connection (for PRAGMAs around a transaction).
    func writeWithoutTransaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.writeWithoutTransaction(body)
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Current time in the database's text form.
    func stamp(_ date: Date? = nil) -> String { Timestamp.format(date ?? now()) }
}

extension StoreError {
    /// Maps SQLite and GRDB errors to the store's own, keeping a StoreError as it is.
    init(_ error: any Error, path: String) {
        if let error = error as? StoreError {
            self = error
            return
        }
        guard let dbError = error as? DatabaseError else {
            self = .database(path: path, detail: "\(error)")
            return
        }
        switch dbError.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            self = .busy(path: path, detail: dbError.message ?? "database is locked")
        case .SQLITE_CONSTRAINT:
            self = .invalid(dbError.message ?? "constraint failed")
        case .SQLITE_FULL, .SQLITE_IOERR:
            self = .diskFull(path: path, detail: dbError.message ?? "database or disk is full")
        default:
            self = .database(path: path, detail: dbError.message ?? "\(dbError)")
        }
    }
}

/// Creates `path` (if it does not exist) with `mode`, less the umask.
private func createEmptyFile(_ path: String, mode: mode_t) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    if fd >= 0 { close(fd) }
}
