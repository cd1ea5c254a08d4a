import Foundation
import Logging
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Delivers the `notifications` rows of one channel, at least once: each due row is handed to
/// `deliver`; a failure is tried again with backoff until `giveUpAfter` from the job's end.
/// Rows survive restarts in the database, so nothing is lost to a crash.
public struct NotificationOutbox: Service {
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
    let clock: any QueueClock
    let wakeup = Wakeup()

    public init(
        store: QueueStore,
        channel: JobNotification.Channel,
        configuration: Configuration = .init(),
        clock: any QueueClock = WallClock(),
        logger: Logger,
        deliver: @escaping @Sendable (JobNotification, JobDetail) async -> Attempt
    ) {
        self.store = store
        self.channel = channel
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.deliver = deliver
    }

    /// A job may have ended.
    public func wake() { wakeup.signal() }

    /// Runs until graceful shutdown or cancellation. One delivery at a time, oldest first, so
    /// receivers see ends in order.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.deliveryLoop() }
    }

    private func deliveryLoop() async {
        while !Task.isCancelled {
            let due = await logged("read the \(channel.rawValue) notifications due") {
                try await store.dueNotifications(channel: channel, now: clock.now(), limit: 32)
            }
            for notification in due ?? [] where !Task.isCancelled {
                await handle(notification)
            }
            if due?.count == 32 { continue }
            let now = clock.now()
            let next = await logged("read when the next \(channel.rawValue) notification is due") {
                try await store.nextNotificationTime(channel: channel, after: now)
            }
            await clock.wait(for: wakeup, until: min((next ?? nil) ?? .distantFuture, now.addingTimeInterval(configuration.idleCheck)))
        }
    }

    private func handle(_ notification: JobNotification) async {
        var log = logger
        log[metadataKey: "lnq.job.id"] = "\(notification.jobId)"
        let detail: JobDetail
        do {
            detail = try store.detail(notification.jobId)
        } catch .noSuchJob {
            await logged("record that job \(notification.jobId) is gone") {
                try await store.notificationFailed(notification.id, error: "the job is gone", retryAt: nil)
            }
            return
        } catch {
            logger.warning("\(channel.rawValue) outbox: cannot read job \(notification.jobId) for its notification: \(error); trying again in 30s")
            let later = clock.now().addingTimeInterval(30)
            await logged("postpone a notification of job \(notification.jobId)") {
                try await store.postponeNotification(notification.id, until: later)
            }
            return
        }
        let now = clock.now()
        let waiting = detail.outputs.contains { $0.download?.state == "pending" }
        if waiting, now.timeIntervalSince(notification.createdAt) < configuration.downloadWait {
            await logged("postpone a notification of job \(notification.jobId)") {
                try await store.postponeNotification(notification.id, until: now.addingTimeInterval(2))
            }
            return
        }
        switch await deliver(notification, detail) {
        case .delivered:
            let at = clock.now()
            await logged("record the delivery of notification \(notification.deliveryId) (it may be delivered again)") {
                try await store.notificationDelivered(notification.id, now: at)
            }
            log.info("job \(notification.jobId): \(channel.rawValue) notification \(notification.deliveryId) delivered")
        case .failed(let reason, let permanent):
            let attempts = notification.attempts + 1
            let retryAt = clock.now().addingTimeInterval(Self.backoff(attempts))
            let expired = retryAt.timeIntervalSince(notification.createdAt) > configuration.giveUpAfter
            if permanent || expired {
                log.warning("job \(notification.jobId): \(channel.rawValue) notification given up after \(attempts) attempt(s): \(reason)")
                await logged("record a failed notification of job \(notification.jobId)") {
                    try await store.notificationFailed(notification.id, error: reason, retryAt: nil)
                }
            } else {
                log.info(
                    "job \(notification.jobId): \(channel.rawValue) notification failed (\(reason)); next try in \(Int(retryAt.timeIntervalSince(clock.now())))s"
                )
                await logged("record a failed notification of job \(notification.jobId)") {
                    try await store.notificationFailed(notification.id, error: reason, retryAt: retryAt)
                }
            }
        }
    }

    /// Runs a store call; when it fails, says what could not be done and returns nil (the rows
    /// stay due, so the next round tries again).
    @discardableResult
    private func logged<T: Sendable>(_ what: String, _ body: () async throws -> T) async -> T? {
        do {
            return try await body()
        } catch {
            // Cut off by shutdown: the rows stay due for the next start, nothing to say.
            if !Task.isCancelled { logger.warning("\(channel.rawValue) outbox: cannot \(what): \(error)") }
            return nil
        }
    }

    /// 1 s, 2 s, 4 s … up to an hour, with jitter.
    static func backoff(_ attempts: Int) -> TimeInterval {
        min(3600, pow(2, Double(attempts - 1))) * Double.random(in: 0.8...1.2)
    }
}
