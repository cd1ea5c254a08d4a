import Foundation

/// Bounds how fast one address can guess the token, by the sign-in form or `Authorization:
/// Bearer`: five tries, then one more each 12 s. A try is taken before the token is checked
/// (so concurrent guesses cannot all slip through) and given back when the token is right;
/// while an address has none left every try of it is refused, the right token too, so guessing
/// learns nothing. Each address has its own tries: a guesser does not lock out the operator.
actor SignInThrottle {
    static let burst = 5.0
    static let refill = 12.0
    /// Addresses remembered; past it, those with every try back are forgotten (they start full anyway).
    static let remembered = 10_000

    private var tries: [String: (left: Double, at: Date)] = [:]
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// Takes a try for `client`: nil when it may try now, else how long until it may.
    func attempt(_ client: String) -> Duration? {
        let time = now()
        var left = current(client, at: time)
        guard left >= 1 else {
            tries[client] = (left, time)
            return .seconds(((1 - left) * Self.refill).rounded(.up))
        }
        left -= 1
        tries[client] = (left, time)
        if tries.count > Self.remembered { forgetFull(at: time) }
        return nil
    }

    /// The token was right: the try is given back.
    func succeeded(_ client: String) {
        let time = now()
        tries[client] = (min(Self.burst, current(client, at: time) + 1), time)
    }

    private func current(_ client: String, at time: Date) -> Double {
        guard let (left, at) = tries[client] else { return Self.burst }
        // A clock stepped back refills nothing, and takes nothing either.
        return min(Self.burst, left + max(0, time.timeIntervalSince(at)) / Self.refill)
    }

    private func forgetFull(at time: Date) {
        tries = tries.filter { current($0.key, at: time) < Self.burst }
    }
}
