import Synchronization

/// Tells every open page that the queue changed: one watcher of the database for the whole
/// console, however many pages listen. A page waits for a version newer than the one it saw.
final class ChangeFeed: Sendable {
    private struct State {
        var version: UInt64 = 0
        var closed = false
        var waiters: [UInt64: CheckedContinuation<UInt64?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    var version: UInt64 { state.withLock { $0.version } }

    /// Records a change and wakes every waiter.
    func publish() {
        let (version, waiters) = state.withLock { state in
            state.version += 1
            defer { state.waiters = [:] }
            return (state.version, Array(state.waiters.values))
        }
        for waiter in waiters { waiter.resume(returning: version) }
    }

    /// Ends every wait, now and later (the console is shutting down).
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The first version after `seen`; nil once closed or when the task is cancelled.
    func next(after seen: UInt64) async -> UInt64? {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64?, Never>) in
                let now = state.withLock { state -> UInt64?? in
                    if state.closed || Task.isCancelled { return .some(nil) }
                    if state.version > seen { return .some(state.version) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// The next version after `seen`, or nil after `timeout` without one (or once closed).
    func next(after seen: UInt64, timeout: Duration) async -> UInt64? {
        await withTaskGroup(of: UInt64?.self) { group in
            group.addTask { await self.next(after: seen) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }
}
