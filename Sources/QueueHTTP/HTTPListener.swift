import Hummingbird
import HummingbirdCore
import Logging
import QueueSupport

/// Serves `router` on `host:port` until graceful shutdown: what the callback receiver, the
/// metrics endpoint and the console share. `bound` gets the port once listening, or nil if it never was;
/// `serving` and `failing` name the job in the log line and in the error.
public enum HTTPListener {
    public static func run<Context: RequestContext>(
        _ router: Router<Context>,
        host: String,
        port: Int,
        bound: Promised<Int?>,
        serving: String,
        failing: String,
        path: String,
        logger: Logger,
        serverLogger: Logger,
        connectionGuard: ConnectionGuard? = nil
    ) async throws where Context.Source == ApplicationRequestContextSource {
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
