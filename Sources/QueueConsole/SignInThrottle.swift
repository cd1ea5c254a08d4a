import Foundation

/// Bounds how fast tokens can be guessed at the sign-in form: five wrong tries, then one more
/// each 12 s. While it is spent every try is refused, the right token too (else a guesser
/// would learn from which try got through). `Authorization: Bearer` is not throttled: it is
/// for scripts that already hold the token, and a wrong one earns nothing but a 401.
actor SignInThrottle {
    static let burst = 5.0
    static let refill: Duration = .seconds(12)

    private var tries = SignInThrottle.burst
    private var last: Date?
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// Nil when a try may be made now, else how long until one may.
    func wait() -> Duration? {
        refillTries()
        guard tries < 1 else { return nil }
        let seconds = (1 - tries) * Double(Self.refill.components.seconds)
        return .seconds(seconds.rounded(.up))
    }

    func failed() {
        refillTries()
        tries = max(0, tries - 1)
    }

    private func refillTries() {
        let time = now()
        if let last { tries = min(Self.burst, tries + time.timeIntervalSince(last) / Double(Self.refill.components.seconds)) }
        last = time
    }
}
