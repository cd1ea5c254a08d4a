import Foundation
import HTTPTypes
import Hummingbird
import LegnextAPI
import Logging
import QueueEngine
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Receives Legnext's callbacks at `POST /legnext/<job id>/<token>`.
///
/// A callback is a hint, not the truth: its body is unauthenticated, so it only makes the
/// engine ask Legnext at once (a GET through the normal rate limiter). A wrong token, an unknown
/// job, an oversized or malformed body are answered with the fitting status, logged, and change
/// nothing. With the account's webhook secret, a callback must also be signed as Legnext signs
/// them (`X-Legnext-Signature`: hex HMAC-SHA256 of `X-Legnext-Timestamp + "." + body`, stamped
/// within five minutes) or it is refused.
public struct CallbackReceiver: Service {
    public static let maxBodyBytes = 256 << 10

    let store: QueueStore
    let host: String
    let port: Int
    let signingSecret: Data?
    let now: @Sendable () -> Date
    let logger: Logger
    private let boundPort = Promised<Int?>()
    /// Slow or idle connections and floods end before they cost the daemon its descriptors.
    let connectionGuard = ConnectionGuard(limit: ConnectionGuard.defaultLimit(), deadline: .seconds(10))
    /// Set by ``attach(_:)``: the engine is built once the callback address (and so the port)
    /// is known, after this has started listening.
    private let engine = Promised<any CallbackHandling>()

    /// How far a signed callback's timestamp may be from our clock (replays of old callbacks are refused).
    public static let signatureTolerance: TimeInterval = 300

    public init(
        store: QueueStore,
        host: String,
        port: Int,
        signingSecret: Data? = nil,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.store = store
        self.host = host
        self.port = port
        self.signingSecret = signingSecret
        self.now = now
        self.logger = logger
    }

    /// The port it listens on once it does, or nil if it could not.
    public func port() async -> Int? { await boundPort.value() }

    /// Hands callbacks to `engine` from now on.
    public func attach(_ engine: any CallbackHandling) { self.engine.fulfil(engine) }

    /// Serves until graceful shutdown.
    public func run() async throws {
        let router = Router()
        router.post("/legnext/:job/:token") { request, context in
            await receive(request, context)
        }
        var serverLogger = logger
        // The URL path holds the token: keep request lines out of the log at any level.
        serverLogger.logLevel = max(logger.logLevel, .info)
        try await HTTPListener.run(
            router,
            host: host,
            port: port,
            bound: boundPort,
            serving: "receiving Legnext callbacks",
            failing: "receive callbacks",
            path: "/legnext/",
            logger: logger,
            serverLogger: serverLogger,
            connectionGuard: connectionGuard
        )
    }

    func receive(_ request: Request, _ context: some RequestContext) async -> Response {
        guard let id = context.parameters.get("job").flatMap(Int64.init) else {
            return reply(.notFound, "no such job")
        }
        let target: CallbackTarget?
        do {
            target = try await store.callbackTarget(id: id)
        } catch {
            logger.warning("callback for job \(id): cannot read the queue: \(error)")
            return reply(.serviceUnavailable, "try again")
        }
        guard let target else {
            logger.warning("callback for unknown job \(id) rejected")
            return reply(.notFound, "no such job")
        }
        guard let expected = target.token, HMACSignature.constantTimeEqual(context.parameters.get("token") ?? "", expected) else {
            logger.warning("callback for job \(id) rejected: wrong token")
            return reply(.forbidden, "wrong token")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            logger.warning("callback for job \(id) rejected: body over \(Self.maxBodyBytes) bytes")
            return reply(.contentTooLarge, "body too large")
        }
        if let signingSecret, let problem = signatureProblem(request.headers, body: Data(buffer: body), secret: signingSecret) {
            logger.warning("callback for job \(id) rejected: \(problem)")
            return reply(.unauthorized, "bad signature")
        }
        guard case .object(let job)? = JSONValue(parsing: String(buffer: body)) else {
            logger.warning("callback for job \(id) rejected: the body is not a JSON object")
            return reply(.badRequest, "expected a JSON object")
        }
        let remoteJobId = job["job_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let status = job["status"]?.stringValue
        switch await engine.value().callbackArrived(target, remoteJobId: remoteJobId, status: status) {
        case .confirming:
            logger.debug("callback for job \(id) (\(status ?? "no status")): confirming with a GET")
            return reply(.accepted, "confirming")
        case .settling:
            logger.notice("callback for uncertain job \(id) names Legnext job \(remoteJobId ?? "?"); confirming with a GET")
            return reply(.accepted, "settling")
        case .noted(let why):
            logger.debug("callback for job \(id): \(why)")
            return reply(.ok, "noted")
        case .mismatch(let why):
            logger.warning("callback for job \(id) ignored: \(why)")
            return reply(.conflict, "not this job's Legnext job")
        }
    }

    private func reply(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"result":"\#(message)"}"#))
        )
    }

    /// Why a callback's signature does not hold, or nil when it does.
    func signatureProblem(_ headers: HTTPFields, body: Data, secret: Data) -> String? {
        guard let signature = headers[Self.signatureHeader] else { return "no X-Legnext-Signature (the account's webhook secret is set)" }
        guard let timestamp = headers[Self.timestampHeader], let seconds = TimeInterval(timestamp) else {
            return "no X-Legnext-Timestamp beside the signature"
        }
        let skew = abs(now().timeIntervalSince1970 - seconds)
        guard skew <= Self.signatureTolerance else {
            return
                "X-Legnext-Timestamp is \(Int(skew)) s away from our clock (at most \(Int(Self.signatureTolerance)) s): an old callback replayed, or a clock that is off"
        }
        guard HMACSignature.verify(signature, secret: secret, timestamp: timestamp, body: body) else {
            return "X-Legnext-Signature does not match the body (is --callback-secret-file the account's webhook secret?)"
        }
        return nil
    }

    static let signatureHeader = HTTPField.Name("x-legnext-signature")!
    static let timestampHeader = HTTPField.Name("x-legnext-timestamp")!
}
