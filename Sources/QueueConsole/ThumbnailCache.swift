import OrderedCollections

/// Thumbnails made, by the identity of the file they were made from (device, inode, size,
/// modification time: a replaced file gets a new one), least recently shown dropped past
/// `limit` bytes. Two tiles asking for the same picture wait for one decode.
actor ThumbnailCache {
    typealias Outcome = Result<[UInt8], Thumbnail.Refusal>

    private var stored: OrderedDictionary<String, Outcome> = [:]
    private var bytes = 0
    private let limit: Int
    private var making: [String: Task<Outcome, any Error>] = [:]
    private var waiting: [String: Int] = [:]

    init(limit: Int) {
        self.limit = limit
    }

    /// The thumbnail of `key` (or why there is none), made with `make` once. An error of
    /// `make` (the file could not be read) is not kept: the next request tries again.
    func thumbnail(_ key: String, make: @escaping @Sendable () async throws -> Outcome) async throws -> Outcome {
        if let hit = stored.removeValue(forKey: key) {
            stored[key] = hit
            return hit
        }
        let task: Task<Outcome, any Error>
        if let running = making[key] {
            task = running
        } else {
            task = Task { try await make() }
            making[key] = task
        }
        waiting[key, default: 0] += 1
        let result = await task.result
        if let count = waiting[key], count > 1 { waiting[key] = count - 1 } else { waiting[key] = nil }
        if making[key] == task {
            making[key] = nil
            if case .success(let outcome) = result { keep(outcome, as: key) }
        }
        return try result.get()
    }

    private func keep(_ outcome: Outcome, as key: String) {
        let size = Self.cost(outcome)
        guard size <= limit else { return }
        stored[key] = outcome
        bytes += size
        while bytes > limit, !stored.isEmpty {
            bytes -= Self.cost(stored.removeFirst().value)
        }
    }

    /// Its bytes, and a little for the entry (a refusal costs something too).
    private static func cost(_ outcome: Outcome) -> Int {
        ((try? outcome.get().count) ?? 0) + 64
    }

    var count: Int { stored.count }

    /// Requests waiting for `key` to be made.
    func waiters(_ key: String) -> Int { waiting[key] ?? 0 }
}
