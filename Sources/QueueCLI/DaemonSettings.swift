import AsyncHTTPClient
import Foundation
import QueueOutputs
import QueueStore
import ServiceLifecycle

/// Where callbacks are received, and the address Legnext is told to use.
struct CallbackSettings: Sendable {
    var host: String
    var port: Int
    /// The public base URL; nil: `http://HOST:PORT` (a loopback or LAN address).
    var publicURL: String?
    /// The account's webhook secret: callbacks must be signed with it.
    var signingSecret: Data?
}

/// What happens to results besides the queue: downloads, notify URL, finish command.
struct OutputSettings: Sendable {
    var downloads: OutputDownloader.Configuration?
    var notifyURL: String?
    var notifySecret: Data?
    var onFinish: String?
    var onFinishTimeout: TimeInterval = 60
    var outbox = NotificationOutbox.Configuration()

    var channels: [String] {
        (notifyURL == nil ? [] : [JobNotification.Channel.webhook.rawValue]) + (onFinish == nil ? [] : [JobNotification.Channel.command.rawValue])
    }
}

/// Owns an HTTP client for the services listed after it in the group: it is shut down once they
/// have stopped (the group stops services in reverse order).
struct HTTPClientOwner: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
