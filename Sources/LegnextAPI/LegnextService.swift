/// What the engine needs from Legnext. ``LegnextClient`` is the real one.
public protocol LegnextService: Sendable {
    /// POSTs a generation request.
    func submit(_ request: LegnextRequest) async -> LegnextOutcome<LegnextJob>
    /// `GET /v1/job/{id}`.
    func job(id: String) async -> LegnextOutcome<LegnextJob>
    /// `GET /account/balance`: free, so the probe for "is the key valid, is there credit".
    func balance() async -> LegnextOutcome<LegnextBalance>
    /// Sends `key` from the next request on (a key file fixed while the daemon runs).
    func useKey(_ key: APIKey)
    /// `GET /account/active_tasks`, where the server has it (a 404 is `.rejected`).
    func activeTasks() async -> LegnextOutcome<LegnextActiveTasks>
}

extension LegnextService {
    /// A service with no key of its own (a scripted one in tests) ignores a new key.
    public func useKey(_ key: APIKey) {}
}
