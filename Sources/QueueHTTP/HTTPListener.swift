import Hummingbird
import HummingbirdCore
import Logging
import QueueSupport

/// Serves `router` on `host:port` until graceful shutdown: what the callback receiver and the
/// metrics endpoint share. `bound` gets the port once listening, or nil if it never was;
/// `serving` and `failing` name the job in the log line and in the error.
enum HTTPListener {
    static func run(
        _ router: Router<BasicRequestContext>,
        host: String,
        port: Int,
        bound: Promised<Int?>,
        serving: String,
        failing: String,
        path: String,
        logger: Logger,
        serverLogger: Logger,
        connectionGuard: ConnectionGuard? = nil
    ) async throws {
        let server: HTTPServerBuilder =
            if let connectionGuard {
                .http1(configuration: .init(additionalChannelHandlers: [connectionGuard.handler()]))
            } else {
                .http1()
            }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? port
                bound.fulfil(port)
                logger.info("\(serving) on http://\(host):\(port)\(path)")
            },
            logger: serverLogger
        )
        do {
            try await app.run()
            bound.fulfil(nil)
        } catch {
            bound.fulfil(nil)
            throw ListenError(description: "cannot \(failing) on \(host):\(port): \(error)")
        }
    }
}

/// Serves `router` on `host:port` until graceful shutdown, for a listener outside this module
/// (the console): `bound` gets the port once listening, or nil if it never was.
public func serveHTTP(
    _ router: Router<BasicRequestContext>,
    host: String,
    port: Int,
    bound: Promised<Int?>,
    serving: String,
    failing: String,
    path: String,
    logger: Logger,
    serverLogger: Logger
) async throws {
    try await HTTPListener.run(
        router,
        host: host,
        port: port,
        bound: bound,
        serving: serving,
        failing: failing,
        path: path,
        logger: logger,
        serverLogger: serverLogger
    )
}
