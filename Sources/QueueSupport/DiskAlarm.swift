import Synchronization

/// Whether the daemon's writes are failing for want of space (or a failing disk), shared by the
/// engine, the downloader and the status line, so the condition is said once, where a person
/// looks, and cleared when a write lands again.
public final class DiskAlarm: Sendable {
    /// What cannot be written: the queue database, or the output folder (often another filesystem).
    public enum Area: String, Sendable, CaseIterable {
        case queue
        case outputs
    }

    private let problems = Mutex<[Area: String]>([:])

    public init() {}

    /// What is failing, while anything is.
    public var current: String? {
        let problems = problems.withLock { $0 }
        let lines = Area.allCases.compactMap { problems[$0] }
        return lines.isEmpty ? nil : lines.joined(separator: "; ")
    }

    public func isRaised(_ area: Area) -> Bool { problems.withLock { $0[area] != nil } }

    /// Records a failed write; true when this raises the alarm for `area` (say it then, once).
    public func raise(_ area: Area, _ description: String) -> Bool {
        problems.withLock { $0.updateValue(description, forKey: area) == nil }
    }

    /// A write to `area` landed; true when this ends its alarm.
    public func clear(_ area: Area) -> Bool {
        problems.withLock { $0.removeValue(forKey: area) != nil }
    }
}
