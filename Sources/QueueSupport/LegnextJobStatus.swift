/// The status of a Legnext job, and the one order of progress among them: a stale answer (an
/// older poll, a late callback) never moves a job backwards, in memory or in the queue.
public enum LegnextJobStatus: String, Sendable, Codable, CaseIterable {
    case pending, staged, processing, completed, failed

    public var isFinal: Bool { self == .completed || self == .failed }

    /// Whether a job at this status has moved past `other` (every status is past none).
    public func isAhead(of other: LegnextJobStatus?) -> Bool { rank > (other?.rank ?? -1) }

    /// Whether an answer at this status is older than what `other` already said.
    public func isBehind(_ other: LegnextJobStatus?) -> Bool { rank < (other?.rank ?? -1) }

    /// The queue's state for a job Legnext reports at this status while it runs.
    public var runningState: String { isFinal ? "pending" : rawValue }

    private var rank: Int {
        switch self {
        case .pending: 0
        case .staged: 1
        case .processing: 2
        case .completed, .failed: 3
        }
    }
}
