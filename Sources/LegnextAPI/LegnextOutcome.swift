/// An HTTP answer carrying Legnext's error object.
public struct LegnextAPIFailure: Sendable, Hashable, CustomStringConvertible {
    public var httpStatus: Int
    public var error: LegnextErrorInfo

    public init(httpStatus: Int, error: LegnextErrorInfo) {
        self.httpStatus = httpStatus
        self.error = error
    }

    public var description: String { "HTTP \(httpStatus): \(error.summary)" }
}

/// A failure worth trying again later.
public struct TransientFailure: Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    /// The HTTP status when there was an answer (5xx), nil for network failures.
    public var httpStatus: Int?
    /// False only when the request provably never left (the connection was never made);
    /// a POST that may have reached Legnext may have created a job there.
    public var mayHaveReachedServer: Bool

    public init(reason: String, httpStatus: Int? = nil, mayHaveReachedServer: Bool) {
        self.reason = reason
        self.httpStatus = httpStatus
        self.mayHaveReachedServer = mayHaveReachedServer
    }

    public var description: String {
        (httpStatus.map { "HTTP \($0): " } ?? "") + reason + (mayHaveReachedServer ? "" : " (request not sent)")
    }
}

/// Every call ends in one of these; the engine acts on them without reading HTTP again.
public enum LegnextOutcome<Value: Sendable>: Sendable {
    /// The call did what was asked (a job accepted, a job read, a balance read).
    case success(Value)
    /// This job is wrong or refused (400, 403, 404, 413, 422): fail it, keep the message.
    case rejected(LegnextAPIFailure)
    /// The account is wrong (401) or out of credit (402): every job would fail the same way.
    case account(LegnextAPIFailure)
    /// 429: slow down; the job is fine.
    case rateLimited(retryAfter: Duration?, LegnextAPIFailure?)
    /// 5xx, timeout, connection failure, unreadable answer: try again later.
    case transient(TransientFailure)

    /// The value on success.
    public var value: Value? {
        if case .success(let value) = self { return value }
        return nil
    }
}

extension LegnextOutcome: CustomStringConvertible {
    public var description: String {
        switch self {
        case .success(let value): "success(\(value))"
        case .rejected(let failure): "rejected: \(failure)"
        case .account(let failure): "account problem: \(failure)"
        case .rateLimited(let retryAfter, let failure):
            "rate limited" + (retryAfter.map { ", retry after \($0)" } ?? "") + (failure.map { ": \($0.error.summary)" } ?? "")
        case .transient(let failure): "transient: \(failure)"
        }
    }
}
