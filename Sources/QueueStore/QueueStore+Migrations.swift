import GRDB
import Migrations

extension QueueStore {
    /// The highest migration recorded in the file (0 for an empty database).
    public func schemaVersion() throws(StoreError) -> Int {
        try read { db in try Self.appliedVersions(db).max() ?? 0 }
    }

    /// Applies every migration the file lacks, in order, in one IMMEDIATE transaction, so two
    /// processes starting together cannot both apply one. Returns the names applied.
    ///
    /// A database that holds tables of its own but none of ours is refused unless `adopting`:
    /// `enqueue` or `run` pointed at the wrong file must not add a queue to it.
    @discardableResult
    public func migrate(adopting: Bool = false) throws(StoreError) -> [String] {
        let path = self.path
        return try write { db in
            let applied = try Self.appliedVersions(db)
            if applied.isEmpty, !adopting {
                let tables = try String.fetchAll(
                    db,
                    sql: "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
                if !tables.isEmpty { throw StoreError.notAQueue(path: path, tables: tables) }
            }
            if let newest = applied.max(), newest > Migration.latestVersion {
                throw StoreError.newerSchema(path: path, found: newest, known: Migration.latestVersion)
            }
            var names: [String] = []
            for migration in Migration.all where !applied.contains(migration.version) {
                try db.execute(sql: migration.sql)
                guard try Self.appliedVersions(db).contains(migration.version) else {
                    throw StoreError.brokenMigration(name: migration.name)
                }
                names.append(migration.name)
            }
            return names
        }
    }

    static func appliedVersions(_ db: Database) throws -> Set<Int> {
        guard try db.tableExists("schema_migrations") else { return [] }
        return Set(try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations"))
    }
}
