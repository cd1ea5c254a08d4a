import Foundation
import QueueSupport
import Synchronization

/// The one gate every request to Legnext passes: a ``TokenBucket`` shared by submissions,
/// polls and balance probes, where polls go first (a finished job frees a slot).
public final class RateLimiter: Sendable {
    /// Who is asking.
    public enum Priority: Sendable { case poll, submit }

    /// A granted request; hand it back with ``finished(_:_:)`` once the answer is in.
    public struct Ticket: Sendable, Hashable {
        public let sentAt: Date
    }

    /// How a request ended, as far as the budget is concerned.
    public enum Result: Sendable {
        case answered
        case rateLimited(retryAfter: TimeInterval?)
        case noAnswer
    }

    private struct State {
        var bucket: TokenBucket
        var waiters: [(priority: Priority, id: UInt64, continuation: CheckedContinuation<Ticket, any Error>)] = []
        var nextId: UInt64 = 0
        var granted = 0
        var limited = 0
    }

    private let state: Mutex<State>
    private let clock: any QueueClock
    private let changed = Wakeup()

    public init(rate: Double, burst: Int, clock: any QueueClock) {
        self.clock = clock
        state = Mutex(State(bucket: TokenBucket(rate: rate, burst: burst, now: clock.now())))
    }

    /// The rate in force now (requests per second; 0 = unlimited).
    public var currentRate: Double { state.withLock { $0.bucket.rate } }
    public var isUnlimited: Bool { state.withLock { $0.bucket.isUnlimited } }

    /// Waits for a token. Throws CancellationError if the task is cancelled first.
    @discardableResult
    public func acquire(_ priority: Priority) async throws -> Ticket {
        let now = clock.now()
        let immediate = state.withLock { state -> Bool in
            let ahead = state.waiters.contains { $0.priority == .poll || priority == .submit }
            guard !ahead, state.bucket.take(now: now) == nil else { return false }
            state.granted += 1
            return true
        }
        if immediate { return Ticket(sentAt: now) }
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Ticket, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiters.append((priority, id, continuation))
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    changed.signal()
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Ticket, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Whether requests wait here now: a back-off after a 429, or others already queued for a
    /// token (another account should not yield to this one then).
    public var isHeldBack: Bool {
        let now = clock.now()
        return state.withLock { state in !state.waiters.isEmpty || (state.bucket.blockedUntil.map { $0 > now } ?? false) }
    }

    /// Takes a token only if one is there now (for filling several free slots at once).
    public func tryAcquire() -> Ticket? {
        let now = clock.now()
        return state.withLock { state in
            guard state.waiters.isEmpty, state.bucket.take(now: now) == nil else { return nil }
            state.granted += 1
            return Ticket(sentAt: now)
        }
    }

    /// Returns a token taken but not spent.
    public func giveBack(_ ticket: Ticket) {
        let now = clock.now()
        state.withLock { $0.bucket.giveBack(sentAt: ticket.sentAt, now: now) }
        changed.signal()
    }

    /// Reports how the request of `ticket` ended.
    public func finished(_ ticket: Ticket, _ result: Result) {
        let now = clock.now()
        state.withLock { state in
            switch result {
            case .answered:
                state.bucket.answered(sentAt: ticket.sentAt, now: now)
                state.bucket.succeeded(now: now)
            case .rateLimited(let retryAfter):
                state.bucket.answered(sentAt: ticket.sentAt, now: now)
                state.bucket.rateLimited(now: now, retryAfter: retryAfter)
                state.limited += 1
            case .noAnswer:
                break
            }
        }
        if case .rateLimited = result { changed.signal() }
    }

    /// Hands tokens to waiters as they become available, polls first. Runs until cancelled.
    public func run() async {
        while !Task.isCancelled {
            let now = clock.now()
            let (wake, next) = state.withLock { state -> ([CheckedContinuation<Ticket, any Error>], Date?) in
                var wake: [CheckedContinuation<Ticket, any Error>] = []
                while let index = state.waiters.firstIndex(where: { $0.priority == .poll }) ?? (state.waiters.isEmpty ? nil : 0) {
                    if let later = state.bucket.take(now: now) { return (wake, later) }
                    wake.append(state.waiters.remove(at: index).continuation)
                    state.granted += 1
                }
                return (wake, nil)
            }
            for continuation in wake { continuation.resume(returning: Ticket(sentAt: now)) }
            if let next {
                await clock.wait(for: changed, until: next)
            } else {
                await changed.wait()
            }
        }
        let waiters = state.withLock { state in
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(throwing: CancellationError()) }
    }
}
