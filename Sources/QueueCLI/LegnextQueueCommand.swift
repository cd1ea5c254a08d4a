import ArgumentParser

/// The `legnext-queue` command: a durable queue of Midjourney jobs for the Legnext API.
/// `--db` belongs to this root, so it may come before or after the subcommand's name.
public struct LegnextQueueCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "legnext-queue",
        abstract: "A durable queue of Midjourney jobs for the Legnext API.",
        discussion: "The queue is an SQLite file: --db PATH, else $LEGNEXT_QUEUE_DB, else ./legnext-queue.db.",
        version: QueueCLIVersion.current,
        subcommands: [
            EnqueueCommand.self, StatusCommand.self, ListCommand.self, ShowCommand.self, CancelCommand.self,
            RetryCommand.self, RunCommand.self, WatchCommand.self, UICommand.self, ExportCommand.self, MigrateCommand.self,
        ]
    )

    @OptionGroup var global: GlobalOptions

    public init() {}
}
