import ArgumentParser
import Foundation
import QueueStore

/// Options every subcommand takes.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp("The queue database.", discussion: "Default: $LEGNEXT_QUEUE_DB, else ./legnext-queue.db."))
    var databasePath: String?

    public init() {}

    /// --db, else LEGNEXT_QUEUE_DB, else ./legnext-queue.db.
    var resolvedPath: String {
        if let databasePath, !databasePath.isEmpty { return databasePath }
        if let env = ProcessInfo.processInfo.environment["LEGNEXT_QUEUE_DB"], !env.isEmpty { return env }
        return "legnext-queue.db"
    }

    /// Opens an existing queue for reading or changing jobs.
    func openExisting() throws(StoreError) -> QueueStore {
        try QueueStore.open(path: resolvedPath, options: .init(create: false, migrate: false))
    }

    /// Opens the queue, creating and migrating it as needed (enqueue, migrate, run).
    func openCreating() throws(StoreError) -> QueueStore {
        try QueueStore.open(path: resolvedPath, options: .init(create: true, migrate: true))
    }
}
