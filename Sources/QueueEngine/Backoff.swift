import Foundation

/// Exponential backoff with full jitter: attempt n waits a random time in
/// [base·2ⁿ⁻¹ / 2, base·2ⁿ⁻¹], capped.
public struct Backoff: Sendable, Hashable {
    public var base: TimeInterval
    public var cap: TimeInterval

    public init(base: TimeInterval, cap: TimeInterval) {
        self.base = base
        self.cap = cap
    }

    /// For submissions that did not reach Legnext, 5xx on polls, connection failures.
    public static let transient = Backoff(base: 2, cap: 120)
    /// For balance probes while paused on an account problem.
    public static let accountProbe = Backoff(base: 5, cap: 300)

    /// The wait before attempt `attempt` (1 = the first retry).
    public func delay(attempt: Int, random: Double = Double.random(in: 0..<1)) -> TimeInterval {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * pow(2, Double(exponent)))
        return ceiling / 2 + ceiling / 2 * random
    }
}
