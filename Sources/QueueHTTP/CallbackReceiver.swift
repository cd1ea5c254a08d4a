import Foundation
import Hummingbird
import LegnextAPI
import Logging
import QueueEngine
import QueueStore
import QueueSupport

/// Receives Legnext's callbacks at `POST /legnext/<job id>/<token>`.
///
/// A callback is a hint, not the truth: its body is unauthenticated, so it only makes the
/// engine ask Legnext at once (a GET through the normal rate limiter). A wrong token, an unknown
/// job, an oversized or malformed body are answered with the fitting status, logged, and change
/// nothing.
public struct CallbackReceiver: Sendable {
    public static let maxBodyBytes = 256 << 10

    let store: QueueStore
    let host: String
    let port: Int
    let logger: Logger
    private let boundPort = Promised<Int?>()
    /// Slow or idle connections and floods end before they cost the daemon its descriptors.
    let connectionGuard = ConnectionGuard(limit: ConnectionGuard.defaultLimit(), deadline: .seconds(10))
    /// Set by ``attach(_:)``: the engine is built once the callback address (and so the port)
    /// is known, after this has started listening.
    private let engine = Promised<QueueEngine>()

    public init(store: QueueStore, host: String, port: Int, logger: Logger) {
        self.store = store
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// The port it listens on once it does, or nil if it could not.
    public func port() async -> Int? { await boundPort.value() }

    /// Hands callbacks to `engine` from now on.
    public func attach(_ engine: QueueEngine) { self.engine.fulfil(engine) }

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
        guard let expected = target.token, Self.same(context.parameters.get("token") ?? "", expected) else {
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

    /// Compares in time that does not depend on where the strings differ.
    static func same(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<b.count { difference |= (index < a.count ? a[index] : 0) ^ b[index] }
        return difference == 0
    }
}
