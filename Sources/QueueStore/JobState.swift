/// Where a job is in its life. The raw values are the `jobs.state` column.
public enum JobState: String, CaseIterable, Sendable, Codable {
    case queued, submitting, pending, staged, processing, completed, failed, cancelled, uncertain

    /// Claimed or accepted and not yet finished: counts against the concurrency limit.
    public var isInFlight: Bool {
        switch self {
        case .submitting, .pending, .staged, .processing: true
        default: false
        }
    }

    /// No further change happens without a person (`retry`).
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled, .uncertain: true
        default: false
        }
    }

    /// States that mirror Legnext's own status of an accepted job.
    public static let remoteStates: [JobState] = [.pending, .staged, .processing]
    public static let inFlightStates: [JobState] = allCases.filter(\.isInFlight)
}
