import Foundation
import QueueStore
import QueueTestSupport

/// A fresh migrated queue in a temporary folder.
struct StoreFixture {
    let dir: TemporaryDirectory
    let store: QueueStore
    var path: String { store.path }

    init(busyTimeout: Duration = .seconds(5)) throws {
        dir = try TemporaryDirectory("store")
        store = try QueueStore.open(path: dir.file("queue.db"), options: .init(create: true, migrate: true, busyTimeout: busyTimeout))
    }

    /// Runs SQL in the `sqlite3` shell, as a person would.
    func shell(_ sql: String) throws -> CommandResult {
        try Subprocess.run(Subprocess.sqlite3!, [path], input: sql)
    }
}

let hasShell = Subprocess.sqlite3 != nil
