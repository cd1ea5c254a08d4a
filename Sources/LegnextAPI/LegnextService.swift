/// What the engine needs from Legnext. ``LegnextClient`` is the real one.
public protocol LegnextService: Sendable {
    /// POSTs a generation request.
    func submit(_ request: LegnextRequest) async -> LegnextOutcome<LegnextJob>
    /// `GET /v1/job/{id}`.
    func job(id: String) async -> LegnextOutcome<LegnextJob>
    /// `GET /account/balance`: free, so the probe for "is the key valid, is there credit".
    func balance() async -> LegnextOutcome<LegnextBalance>
}
