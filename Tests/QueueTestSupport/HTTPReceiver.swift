import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Synchronization

/// A tiny HTTP server that records every POST it receives (path, headers, body) and answers
/// with the status `answer` picks (200 by default): a stand-in for the systems that receive
/// callbacks and notifications.
public final class HTTPReceiver: Sendable {
    public struct Received: Sendable {
        public var path: String
        public var headers: [String: String]
        public var body: Data
    }

    private let received = Mutex<[Received]>([])
    public var requests: [Received] { received.withLock { $0 } }
    private let answer: @Sendable (Received) -> Int

    public init(answer: @escaping @Sendable (Received) -> Int = { _ in 200 }) {
        self.answer = answer
    }

    /// Runs the receiver for the duration of `body`, passing its base URL.
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("**") { request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let received = Received(path: request.uri.path, headers: headers, body: Data(buffer: buffer))
            self.received.withLock { $0.append(received) }
            return Response(status: .init(code: self.answer(received)))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "receiver")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        defer { running.cancel() }
        let result = try await body("http://127.0.0.1:\(port)")
        await group.triggerGracefulShutdown()
        try? await running.value
        return result
    }
}
