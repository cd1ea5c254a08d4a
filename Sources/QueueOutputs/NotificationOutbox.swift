import Foundation
import Logging
import QueueStore
import QueueSupport

/// Delivers the `notifications` rows of one channel, at least once: each due row is handed to
/// `deliver`; a failure is tried again with backoff until `giveUpAfter` from the job's end.
/// Rows survive restarts in the database, so nothing is lost to a crash.
public struct NotificationOutbox: Sendable {
    public enum Attempt: Sendable {
        case delivered
        /// Try again later; `permanent` gives up at once.
        case failed(String, permanent: Bool)
    }

    public struct Configuration: Sendable {
        public var giveUpAfter: TimeInterval = 24 * 3600
        /// Wait this long at most for a job's downloads before telling without them.
        public var downloadWait: TimeInterval = 600
        public var idleCheck: TimeInterval = 30
        public init() {}
    }

    let store: QueueStore
    let channel: JobNotification.Channel
    let configuration: Configuration
    let logger: Logger
    let deliver: @Sendable (JobNotification, JobDetail) async -> Attempt
    let wakeup = Wakeup()

    public init(
        store: QueueStore,
        channel: JobNotification.Channel,
        configuration: Configuration = .init(),
        logger: Logger,
        deliver: @escaping @Sendable (JobNotification, JobDetail) async -> Attempt
    ) {
        self.store = store
        self.channel = channel
        self.configuration = configuration
        self.logger = logger
        self.deliver = deliver
    }

    /// A job may have ended.
    public func wake() { wakeup.signal() }

    /// Runs until cancelled. One delivery at a time, oldest first, so receivers see ends in order.
    public func run() async {
        while !Task.isCancelled {
            let now = Date()
            let due = (try? await store.dueNotifications(channel: channel, now: now, limit: 32)) ?? []
            for notification in due where !Task.isCancelled {
                await handle(notification)
            }
            if due.count == 32 { continue }
            let next = (try? await store.nextNotificationTime(channel: channel, after: Date())) ?? nil
            let delay = min(next ?? .distantFuture, Date().addingTimeInterval(configuration.idleCheck)).timeIntervalSinceNow
            if delay > 0 { _ = await wakeup.wait(timeout: .milliseconds(Int64(delay * 1000) + 1)) }
        }
    }

    private func handle(_ notification: JobNotification) async {
        var log = logger
        log[metadataKey: "lnq.job.id"] = "\(notification.jobId)"
        guard let detail = try? store.detail(notification.jobId) else {
            try? await store.notificationFailed(notification.id, error: "the job is gone", retryAt: nil)
            return
        }
        let now = Date()
        let waiting = detail.outputs.contains { $0.download?.state == "pending" }
        if waiting, now.timeIntervalSince(notification.createdAt) < configuration.downloadWait {
            try? await store.postponeNotification(notification.id, until: now.addingTimeInterval(2))
            return
        }
        switch await deliver(notification, detail) {
        case .delivered:
            try? await store.notificationDelivered(notification.id, now: Date())
            log.info("job \(notification.jobId): \(channel.rawValue) notification \(notification.deliveryId) delivered")
        case .failed(let reason, let permanent):
            let attempts = notification.attempts + 1
            let retryAt = Date().addingTimeInterval(Self.backoff(attempts))
            let expired = retryAt.timeIntervalSince(notification.createdAt) > configuration.giveUpAfter
            if permanent || expired {
                log.warning("job \(notification.jobId): \(channel.rawValue) notification given up after \(attempts) attempt(s): \(reason)")
                try? await store.notificationFailed(notification.id, error: reason, retryAt: nil)
            } else {
                log.info(
                    "job \(notification.jobId): \(channel.rawValue) notification failed (\(reason)); next try in \(Int(retryAt.timeIntervalSinceNow))s"
                )
                try? await store.notificationFailed(notification.id, error: reason, retryAt: retryAt)
            }
        }
    }

    /// 1 s, 2 s, 4 s … up to an hour, with jitter.
    static func backoff(_ attempts: Int) -> TimeInterval {
        min(3600, pow(2, Double(attempts - 1))) * Double.random(in: 0.8...1.2)
    }
}
