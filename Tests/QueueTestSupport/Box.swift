import Foundation

/// A value shared between a test and the tasks or closures it watches, behind a lock.
public final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    public init(_ value: T) { stored = value }
    public var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    /// Reads and changes the value in one step.
    public func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&stored) } }
}
