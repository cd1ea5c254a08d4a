import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import QueueSupport
import ServiceLifecycle
import Synchronization

/// A local stand-in for Legnext: same paths, bodies, Job objects and error bodies, plus knobs
/// for every way the real service misbehaves and a ledger at `GET /_sim/stats`.
/// Run it as a `Service`; ``port()`` tells where it listens once it does.
public final class LegnextSimulator: Service, Sendable {
    public let configuration: SimulatorConfiguration
    let state: SimulatorState
    let logger: Logger
    private let outboxSignal = Wakeup()
    private let timerSignal = Wakeup()
    private let boundPort = Promised<Int>()

    public init(configuration: SimulatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.state = SimulatorState(config: configuration, outboxSignal: outboxSignal, timerSignal: timerSignal)
    }

    /// The port the simulator listens on; waits until it does.
    public func port() async -> Int { await boundPort.value() }

    /// The base URL a Legnext client should use, e.g. `http://127.0.0.1:40123/api`.
    public func baseURL() async -> String { "http://\(configuration.host):\(await port())/api" }

    public func run() async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? configuration.port
                if configuration.publicBaseURL == nil {
                    await state.setPublicBaseURL("http://\(configuration.host):\(port)")
                }
                boundPort.fulfil(port)
            },
            logger: logger
        )
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask { await self.runTimer() }
            group.addTask { await self.runCallbacks(http) }
            // The server ends on graceful shutdown; the helpers follow it.
            _ = try await group.next()
            group.cancelAll()
            try await group.waitForAll()
        }
        try await http.shutdown()
    }

    /// Advances jobs at the moment they change, so callbacks go out on time.
    private func runTimer() async {
        while !Task.isCancelled {
            let now = await state.now()
            let next = await state.advance(to: now)
            let wait = next.map { max(0.001, $0 - now) } ?? 3600
            await timerSignal.wait(timeout: .milliseconds(Int64(wait * 1000) + 1))
        }
    }

    private func runCallbacks(_ http: HTTPClient) async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                await outboxSignal.wait()
                for callback in await state.takeCallbacks() {
                    group.addTask { await self.deliver(callback.url, callback.body, http) }
                }
            }
        }
    }

    private func deliver(_ url: String, _ body: Data, _ http: HTTPClient) async {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let secret = configuration.webhookSecret {
            let timestamp = String(Int(Date().timeIntervalSince1970))
            request.headers.add(name: "x-legnext-timestamp", value: timestamp)
            request.headers.add(name: "x-legnext-signature", value: HMACSignature.hex(secret: secret, timestamp: timestamp, body: body))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        for attempt in 0..<max(1, configuration.callbackAttempts) {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(200 << attempt)) }
            if Task.isCancelled { break }
            if let response = try? await http.execute(request, timeout: .seconds(5)), (200..<300).contains(response.status.code) {
                _ = try? await response.body.collect(upTo: 1 << 20)
                await state.recordCallback(delivered: true)
                return
            }
        }
        logger.debug("callback to \(url) not delivered")
        await state.recordCallback(delivered: false)
    }
}
