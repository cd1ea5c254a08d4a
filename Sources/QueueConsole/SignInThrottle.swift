import Foundation

/// Bounds how fast one client can guess the token, by the sign-in form or `Authorization:
/// Bearer`: five wrong tries, then one more each 12 s; while a client has none left every try
/// of it is refused, the right token too, so guessing learns nothing. Each client (an IPv4
/// address, an IPv6 /64: one host's share) has its own tries: a guesser locks out itself, not
/// the operator.
actor SignInThrottle {
    static let burst = 5.0
    static let refill = 12.0
    /// Addresses remembered before those with every try back are forgotten (they start full
    /// anyway); past it a prune comes only when twice as many are remembered.
    static let remembered = 10_000

    private var tries: [String: (left: Double, at: Date)] = [:]
    private var pruneAbove = SignInThrottle.remembered
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// One try of a token by `client`: `isRight` is asked only when the client has a try left,
    /// and a right token costs none. One actor call, so concurrent guesses cannot all slip
    /// through and concurrent right tokens never spend a try.
    func attempt(_ client: String, isRight: @Sendable () -> Bool) -> ConsoleSecurity.Try {
        let time = now()
        let left = current(client, at: time)
        guard left >= 1 else {
            tries[client] = (left, time)
            return .closed(.seconds(((1 - left) * Self.refill).rounded(.up)))
        }
        if isRight() { return .right }
        tries[client] = (left - 1, time)
        if tries.count > pruneAbove { prune(at: time) }
        return .wrong
    }

    private func current(_ client: String, at time: Date) -> Double {
        guard let (left, at) = tries[client] else { return Self.burst }
        // A clock stepped back refills nothing, and takes nothing either.
        return min(Self.burst, left + max(0, time.timeIntervalSince(at)) / Self.refill)
    }

    private func prune(at time: Date) {
        tries = tries.filter { current($0.key, at: time) < Self.burst }
        pruneAbove = max(Self.remembered, 2 * tries.count)
    }
}
