import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import QueueStore
import QueueSupport

/// Delivers notifications as signed POSTs to `--notify-url`.
///
/// Headers: `X-LegnextQueue-Delivery` (stable across retries: dedupe on it),
/// `X-LegnextQueue-Timestamp` (Unix seconds) and `X-LegnextQueue-Signature`:
/// `sha256=` + hex HMAC-SHA256 of `timestamp + "." + body` with the shared secret.
public struct WebhookNotifier: Sendable {
    let url: String
    /// The key bytes (SymmetricKey is not Sendable in this swift-crypto).
    let secret: Data
    let client: HTTPClient
    let clock: any QueueClock

    public init(url: String, secret: Data, client: HTTPClient, clock: any QueueClock = WallClock()) {
        self.url = url
        self.secret = secret
        self.client = client
        self.clock = clock
    }

    public func deliver(_ notification: JobNotification, _ detail: JobDetail) async -> NotificationOutbox.Attempt {
        let body = Data(NotificationPayload.json(notification, detail).jsonText.utf8)
        let timestamp = String(Int(clock.now().timeIntervalSince1970))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "x-legnextqueue-delivery", value: notification.deliveryId)
        request.headers.add(name: "x-legnextqueue-timestamp", value: timestamp)
        request.headers.add(
            name: "x-legnextqueue-signature",
            value: "sha256=" + HMACSignature.hex(secret: secret, timestamp: timestamp, body: body)
        )
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try? await response.body.collect(upTo: 64 << 10)
            if (200..<300).contains(response.status.code) { return .delivered }
            return .failed("HTTP \(response.status.code) from the notify URL", permanent: false)
        } catch {
            return .failed("\(error)", permanent: false)
        }
    }
}
