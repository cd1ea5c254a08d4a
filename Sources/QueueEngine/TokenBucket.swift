import Foundation

/// The request budget to Legnext as a pure value: a token bucket whose rate adapts to 429s
/// (halve on a 429 and honour Retry-After; grow back by a tenth of the configured rate per
/// second without one). No I/O and no clock of its own: every call says what time it is.
///
/// A bucket alone lets `burst + rate` requests through in one second; servers count a sliding
/// second. So sends are also logged, and no ``window`` ever holds more than `rate` of them.
public struct TokenBucket: Sendable, Hashable {
    /// The rate asked for, requests per second; 0 = unlimited.
    public let configuredRate: Double
    public let burst: Double
    /// The rate in force now (lower than configured after 429s).
    public private(set) var rate: Double
    public private(set) var tokens: Double
    private var last: Date
    /// No request before this time (Retry-After).
    public private(set) var blockedUntil: Date?
    private var lastIncrease: Date
    /// Times of recent sends, oldest first.
    private var recent: [Date] = []
    /// A second, plus a small margin. Each send is logged at its answer's time once the answer
    /// comes (the server saw it between the two), so the server's window never holds more.
    public static let window: TimeInterval = 1.02
    /// The rate never falls below this share of the configured one.
    static let floorShare = 0.05

    public init(rate: Double, burst: Int, now: Date) {
        configuredRate = max(0, rate)
        self.burst = Double(max(1, burst))
        self.rate = configuredRate
        tokens = Double(max(1, burst))
        last = now
        lastIncrease = now
    }

    public var isUnlimited: Bool { configuredRate == 0 }

    /// Takes one token if there is one; otherwise returns the time one will be there.
    public mutating func take(now: Date) -> Date? {
        if isUnlimited { return nil }
        if let blockedUntil, now < blockedUntil { return blockedUntil }
        blockedUntil = nil
        let limit = max(1, Int(rate))
        if let cut = recent.firstIndex(where: { $0 > now.addingTimeInterval(-Self.window) }) {
            recent.removeFirst(cut)
        } else {
            recent.removeAll()
        }
        if recent.count >= limit { return recent[recent.count - limit].addingTimeInterval(Self.window) }
        refill(now)
        // The epsilon absorbs rounding: a wait computed to the token's arrival must find it there.
        if tokens >= 1 - 1e-9 {
            tokens = max(0, tokens - 1)
            recent.append(now)
            return nil
        }
        return now.addingTimeInterval(max((1 - tokens) / rate, 1e-6))
    }

    /// Gives back a token taken at `sentAt` but not used.
    public mutating func giveBack(sentAt: Date, now: Date) {
        guard !isUnlimited else { return }
        refill(now)
        tokens = min(burst, tokens + 1)
        if let index = recent.lastIndex(of: sentAt) { recent.remove(at: index) }
    }

    /// The request sent at `sentAt` was answered at `now`: from the server's side it arrived no
    /// later than that, so it counts in the window from then.
    public mutating func answered(sentAt: Date, now: Date) {
        guard !isUnlimited, let index = recent.lastIndex(of: sentAt) else { return }
        recent.remove(at: index)
        let at = recent.firstIndex { $0 > now } ?? recent.endIndex
        recent.insert(now, at: at)
    }

    /// Legnext said 429: halve the rate, drop the tokens, and wait `retryAfter` (or one interval).
    public mutating func rateLimited(now: Date, retryAfter: TimeInterval?) {
        guard !isUnlimited else { return }
        refill(now)
        rate = max(configuredRate * Self.floorShare, rate / 2)
        tokens = 0
        let wait = retryAfter ?? (1 / rate)
        blockedUntil = max(blockedUntil ?? now, now.addingTimeInterval(wait))
        lastIncrease = now
    }

    /// A request went through without a 429: recover toward the configured rate.
    public mutating func succeeded(now: Date) {
        guard !isUnlimited, rate < configuredRate else { return }
        let elapsed = now.timeIntervalSince(lastIncrease)
        guard elapsed >= 1 else { return }
        refill(now)
        rate = min(configuredRate, rate + configuredRate * 0.1 * elapsed.rounded(.down))
        lastIncrease = now
    }

    private mutating func refill(_ now: Date) {
        let elapsed = now.timeIntervalSince(last)
        if elapsed > 0 {
            tokens = min(burst, tokens + elapsed * rate)
            last = now
        }
    }
}
