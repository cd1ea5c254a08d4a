import Synchronization

/// Callbacks that want each value of something (an engine's status, its milestones), called in
/// the order they were added, outside the lock.
public final class ObserverList<Value: Sendable>: Sendable {
    private let observers = Mutex<[@Sendable (Value) -> Void]>([])

    public init() {}

    public func add(_ observer: @escaping @Sendable (Value) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Whether anyone listens (a value costly to make need not be made then).
    public var isEmpty: Bool { observers.withLock { $0.isEmpty } }

    public func notify(_ value: Value) {
        for observer in observers.withLock({ $0 }) { observer(value) }
    }
}
