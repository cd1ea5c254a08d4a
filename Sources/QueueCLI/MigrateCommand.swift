import ArgumentParser
import Migrations
import QueueStore

/// `legnext-queue migrate`: create or upgrade the schema.
public struct MigrateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the queue database, or upgrade its schema."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Flag(help: "Add the queue's tables to a database that already holds other tables.") var adopt = false

    public init() {}

    public func run() async throws {
        try await reportingErrors {
            let path = global.resolvedPath
            let store = try QueueStore.open(path: path, options: .init(create: true, checkSchema: false))
            let applied = try store.migrate(adopting: adopt)
            if applied.isEmpty {
                print("\(path): schema is up to date (version \(Migration.latestVersion))")
            } else {
                print("\(path): applied \(applied.joined(separator: ", ")); schema version \(Migration.latestVersion)")
            }
        }
    }
}
