/// What can go wrong with the queue database, each with a message that says what to do.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No database file at the path.
    case noDatabase(path: String)
    /// The file was written by a newer legnext-queue.
    case newerSchema(path: String, found: Int, known: Int)
    /// The file needs `legnext-queue migrate` before this command can read it.
    case outdatedSchema(path: String, found: Int, needed: Int)
    /// Another process held the write lock past the busy timeout.
    case busy(path: String, detail: String)
    /// A row was rejected: by a trigger, a constraint, or this program's own checks.
    case invalid(String)
    /// The job at `index` of an enqueue batch was rejected; nothing of the batch was stored.
    case rejected(index: Int, message: String)
    /// No job with that id.
    case noSuchJob(Int64)
    /// The file is not an SQLite database, cannot be opened, or a query failed unexpectedly.
    case database(path: String, detail: String)
    /// A migration file does not record itself in `schema_migrations`.
    case brokenMigration(name: String)
    /// The file is an SQLite database with tables of its own and no legnext-queue schema.
    case notAQueue(path: String, tables: [String])
    /// The database file has more than one hard link (SQLite would journal each name apart).
    case multipleLinks(path: String, links: Int)
    /// Another daemon already runs on this database.
    case daemonRunning(path: String, pid: Int32?)
    /// A write failed for want of space, or the disk failed it (SQLITE_FULL, SQLITE_IOERR).
    case diskFull(path: String, detail: String)

    /// A failure that goes away by itself (a lock released, space freed): retry the write.
    public var isTemporary: Bool {
        switch self {
        case .busy, .diskFull: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .noDatabase(let path):
            "no queue database at \(path): create it with `legnext-queue --db \(path) migrate` (or enqueue a job), or point --db / LEGNEXT_QUEUE_DB at the right file"
        case .newerSchema(let path, let found, let known):
            "\(path) has schema version \(found), but this legnext-queue knows only up to \(known): upgrade legnext-queue"
        case .outdatedSchema(let path, let found, let needed):
            "\(path) has schema version \(found) and this legnext-queue needs \(needed): run `legnext-queue --db \(path) migrate`"
        case .busy(let path, let detail):
            "\(path) is locked by another process (\(detail)): try again, and keep `sqlite3` write transactions short"
        case .invalid(let message):
            message
        case .rejected(let index, let message):
            "job \(index + 1) of the batch: \(message)"
        case .noSuchJob(let id):
            "no job \(id) in this queue"
        case .database(let path, let detail):
            "cannot use \(path): \(detail)"
        case .brokenMigration(let name):
            "migration \(name) did not record itself in schema_migrations"
        case .notAQueue(let path, let tables):
            "\(path) is an SQLite database that legnext-queue did not make (it holds \(tables.prefix(5).joined(separator: ", "))\(tables.count > 5 ? ", …" : "")): point --db / LEGNEXT_QUEUE_DB at the queue, or add the queue's tables to this file on purpose with `legnext-queue --db \(path) migrate --adopt`"
        case .multipleLinks(let path, let links):
            "\(path) has \(links) hard links: SQLite keeps a journal beside each name, so two names of one queue would be two diverging queues over one file; remove the other links (`find / -xdev -samefile \(path)` lists them) and use one path, or a symlink"
        case .diskFull(let path, let detail):
            "cannot write \(path) (\(detail)): its filesystem is full or failing; free space there (`df \(path)`)"
        case .daemonRunning(let path, let pid):
            "a legnext-queue daemon already runs on \(path)\(pid.map { " (pid \($0))" } ?? ""): stop it first, or use another --db"
        }
    }
}
