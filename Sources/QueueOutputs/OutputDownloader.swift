import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import QueueStore
import QueueSupport
import ServiceLifecycle
import Synchronization

/// Downloads every image and video of completed jobs to `<dir>/<job id>/<kind>-<n>.<ext>`
/// (`grid.png`, `image-0.png` … `image-3.png`: the numbering of `show` and of `imageNo`),
/// before Legnext's signed URLs expire: streamed to a temporary file and renamed, with size,
/// content type and SHA-256 in `job_outputs`. Its own connections and concurrency, outside
/// the Legnext request budget. A half-done download is redone after a restart; a done one never.
public struct OutputDownloader: Service {
    public struct Configuration: Sendable {
        public var directory: String
        /// Hosts allowed (`cdn.example.com`, or `*.example.com` for any subdomain).
        public var allowedHosts: [String]
        public var concurrency = 2
        public var maxBytes = 100 << 20
        public var maxAttempts = 6
        public var requestTimeout: TimeAmount = .minutes(5)
        /// An attempt that receives nothing for this long is given up (and retried later).
        public var stallTimeout: TimeInterval = 30
        /// A download that has received nothing for this long stops holding one of the
        /// `concurrency` slots, so a stalled server does not starve the others; at most
        /// `4 × concurrency` run at once in all.
        public var slowAfter: TimeInterval = 2
        /// Look for work at least this often without a wake-up.
        public var idleCheck: TimeInterval = 30

        public init(directory: String, allowedHosts: [String]) {
            self.directory = directory
            self.allowedHosts = allowedHosts
        }
    }

    /// Legnext's image hosts; the simulator's loopback address is added by `--simulate`.
    public static let defaultHosts = ["*.legnext.ai", "cdn.midjourney.com"]

    let store: QueueStore
    let configuration: Configuration
    let logger: Logger
    let diskAlarm: DiskAlarm
    let clock: any QueueClock
    let wakeup = Wakeup()

    public init(
        store: QueueStore,
        configuration: Configuration,
        diskAlarm: DiskAlarm = DiskAlarm(),
        clock: any QueueClock = WallClock(),
        logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.diskAlarm = diskAlarm
        self.clock = clock
        self.logger = logger
    }

    /// New outputs may be waiting (a job completed).
    public func wake() { wakeup.signal() }

    /// Runs until graceful shutdown or cancellation; downloads under way then are redone at the
    /// next start.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.downloadLoop() }
    }

    private func downloadLoop() async {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .milliseconds(Int64(configuration.stallTimeout * 1000))),
                decompression: .disabled
            )
        )
        await withDiscardingTaskGroup { group in
            let active = ActiveDownloads()
            while !Task.isCancelled {
                let now = clock.now()
                let slots = active.slots(now: now, slowAfter: configuration.slowAfter)
                let free = min(configuration.concurrency - slots.holding, 4 * configuration.concurrency - slots.running)
                var due: [PendingDownload] = []
                if free > 0 {
                    do {
                        due = try await store.dueDownloads(now: now, limit: free + slots.running)
                    } catch {
                        // Cut off by shutdown: nothing to say.
                        if !Task.isCancelled {
                            logger.warning("cannot read the downloads due: \(error); looking again in \(Int(configuration.idleCheck))s")
                        }
                    }
                }
                var started = 0
                for download in due where started < free && active.claim(download, at: now) {
                    started += 1
                    group.addTask {
                        await fetch(download, client, active)
                        active.release(download)
                        wakeup.signal()
                    }
                }
                if started > 0, started == free { continue }  // more may be due
                // Everything due is under way (or nothing is): sleep until a download ends or
                // turns slow, a job completes, a retry falls due, or the periodic look.
                var retry: Date?
                do {
                    retry = try await store.nextDownloadTime(after: now)
                } catch {
                    if !Task.isCancelled { logger.warning("cannot read when the next download retry is due: \(error)") }
                }
                let turnsSlow = slots.nextSlowAt ?? .distantFuture
                await clock.wait(for: wakeup, until: min(retry ?? .distantFuture, turnsSlow, now.addingTimeInterval(configuration.idleCheck)))
            }
        }
        try? await client.shutdown()
    }

    /// One attempt at one output, recorded whatever its end.
    func fetch(_ download: PendingDownload, _ client: HTTPClient, _ active: ActiveDownloads) async {
        var log = logger
        log[metadataKey: "lnq.job.id"] = "\(download.jobId)"
        do {
            // Claimed after the task that did it released it, so this read sees its commit.
            guard try await store.isPending(download) else { return }
            let (path, size, type, digest) = try await save(download, client, active)
            if diskAlarm.clear(.outputs) { logger.notice("outputs can be saved in \(configuration.directory) again") }
            let recorded = await recording(download) {
                try await store.downloadSucceeded(download, path: path, size: size, contentType: type, sha256: digest)
            }
            guard recorded else { return }
            log.info("job \(download.jobId): saved \(download.kind.rawValue) \(download.index) to \(path) (\(size) bytes)")
        } catch let failure as DownloadFailure {
            // Cut off by shutdown: redone at the next start, not counted as an attempt.
            if Task.isCancelled { return }
            if failure.noSpace {
                // Not the output's fault: no attempt counted, one line for the whole daemon.
                if diskAlarm.raise(.outputs, "no space left to save outputs in \(configuration.directory)") {
                    logger.error("disk full: cannot save outputs in \(configuration.directory) (\(failure.reason)); downloads wait and retry")
                }
                let retryAt = clock.now().addingTimeInterval(30)
                await recording(download) {
                    try await store.downloadFailed(download, error: failure.reason, retryAt: retryAt, countAttempt: false)
                }
                return
            }
            let attempts = download.attempts + 1
            let retryAt = failure.transient && attempts < configuration.maxAttempts ? clock.now().addingTimeInterval(Self.backoff(attempts)) : nil
            if retryAt == nil {
                log.warning("job \(download.jobId): \(download.kind.rawValue) \(download.index) not downloaded: \(failure.reason)")
            } else {
                log.info("job \(download.jobId): download of \(download.kind.rawValue) \(download.index) failed (\(failure.reason)); trying again")
            }
            let reason = retryAt == nil && failure.transient ? "\(failure.reason) (gave up after \(attempts) attempts)" : failure.reason
            await recording(download) { try await store.downloadFailed(download, error: reason, retryAt: retryAt) }
        } catch {
            log.warning(
                "job \(download.jobId): the download of \(download.kind.rawValue) \(download.index) could not be tried: \(error); it stays due"
            )
        }
    }

    /// Runs the write that records an attempt, and says why when it cannot (the output stays
    /// due and is fetched again). While the queue cannot be written (a full disk, a lock held)
    /// it waits before it returns, so the output is not fetched again at once: retried from the
    /// network every 30 s, not in a loop. Returns whether the write landed.
    @discardableResult
    private func recording(_ download: PendingDownload, _ write: () async throws -> Void) async -> Bool {
        do {
            try await write()
            if diskAlarm.clear(.queue) { logger.notice("the queue can be written again") }
            return true
        } catch {
            let what = "job \(download.jobId): cannot record the download of \(download.kind.rawValue) \(download.index)"
            if case .diskFull = error as? StoreError {
                if diskAlarm.raise(.queue, "\(error)") { logger.error("disk full: \(error); downloads wait and retry") }
            } else {
                logger.warning("\(what): \(error); it is fetched again")
            }
            if (error as? StoreError)?.isTemporary == true { try? await clock.sleep(until: clock.now().addingTimeInterval(30)) }
            return false
        }
    }

    static func backoff(_ attempts: Int) -> TimeInterval {
        min(300, pow(2, Double(attempts))) * Double.random(in: 0.75...1.25)
    }

    /// Streams the output to a temporary file beside its final name, then renames it.
    private func save(_ download: PendingDownload, _ client: HTTPClient, _ active: ActiveDownloads) async throws -> (String, Int, String, String) {
        let url = try checkedURL(download.url)
        let folder = (configuration.directory as NSString).appendingPathComponent(String(download.jobId))
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DownloadFailure("cannot create \(folder): \(error.localizedDescription)", transient: true, noSpace: Self.isNoSpace(error))
        }
        let temporary = (folder as NSString).appendingPathComponent(".\(download.fileStem).part")
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: configuration.requestTimeout)
        } catch {
            throw DownloadFailure(describe(error), transient: true)
        }
        guard response.status.code == 200 else {
            let transient = response.status.code >= 500 || response.status.code == 429 || response.status.code == 408
            throw DownloadFailure("HTTP \(response.status.code) from \(url.host ?? "?")", transient: transient)
        }
        if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > configuration.maxBytes {
            throw DownloadFailure("\(length) bytes is over the \(configuration.maxBytes)-byte cap (--download-max-bytes)", transient: false)
        }
        let type =
            response.headers.first(name: "content-type")?.split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? "application/octet-stream"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let file = FileHandle(forWritingAtPath: temporary) else {
            let noSpace = errno == ENOSPC || errno == EDQUOT
            throw DownloadFailure("cannot write \(temporary)\(noSpace ? ": no space left on the device" : "")", transient: true, noSpace: noSpace)
        }
        var hash = SHA256()
        var size = 0
        do {
            defer { try? file.close() }
            for try await chunk in response.body {
                size += chunk.readableBytes
                guard size <= configuration.maxBytes else {
                    throw DownloadFailure("over the \(configuration.maxBytes)-byte cap (--download-max-bytes)", transient: false)
                }
                active.progressed(download, at: clock.now())
                chunk.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
                try file.write(contentsOf: chunk.readableBytesView)
            }
            try file.synchronize()
        } catch let failure as DownloadFailure {
            try? FileManager.default.removeItem(atPath: temporary)
            throw failure
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DownloadFailure(describe(error), transient: true, noSpace: Self.isNoSpace(error))
        }
        let final = (folder as NSString).appendingPathComponent("\(download.fileStem).\(Self.fileExtension(type))")
        guard rename(temporary, final) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(atPath: temporary)
            throw DownloadFailure(
                "cannot rename \(temporary) to \(final): \(String(cString: strerror(code)))",
                transient: true,
                noSpace: code == ENOSPC || code == EDQUOT
            )
        }
        let digest = hash.finalize().map { String(format: "%02x", $0) }.joined()
        return (final, size, type, digest)
    }

    /// Whether a file operation failed for want of space (ENOSPC, or a quota).
    static func isNoSpace(_ error: any Error) -> Bool {
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain, error.code == Int(ENOSPC) || error.code == Int(EDQUOT) { return true }
        if error.domain == NSCocoaErrorDomain, error.code == CocoaError.fileWriteOutOfSpace.rawValue { return true }
        return (error.userInfo[NSUnderlyingErrorKey] as? any Error).map(isNoSpace) ?? false
    }

    private func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .readTimeout {
            return "the server sent nothing for \(Int(configuration.stallTimeout.rounded(.up)))s (--download-stall-timeout)"
        }
        return "\(error)"
    }

    /// Only https, or http to the loopback address (the simulator); only allowed hosts.
    func checkedURL(_ text: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(), !host.isEmpty else {
            throw DownloadFailure("not a URL: \(text.prefix(200))", transient: false)
        }
        let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw DownloadFailure("\(scheme):// is not allowed (https only)", transient: false)
        }
        guard Self.allowed(host, by: configuration.allowedHosts) else {
            throw DownloadFailure("host \(host) is not on the download allowlist (--download-hosts)", transient: false)
        }
        return url
    }

    static func allowed(_ host: String, by patterns: [String]) -> Bool {
        patterns.contains { pattern in
            let pattern = pattern.lowercased()
            if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) }
            return host == pattern
        }
    }

    /// The file's extension, from its content type: never from the URL.
    static func fileExtension(_ contentType: String) -> String {
        switch contentType {
        case "image/png": "png"
        case "image/jpeg", "image/jpg": "jpg"
        case "image/webp": "webp"
        case "image/gif": "gif"
        case "video/mp4": "mp4"
        case "video/webm": "webm"
        default: "bin"
        }
    }
}

/// Why one download attempt failed, and whether trying again may help.
struct DownloadFailure: Error, CustomStringConvertible {
    var reason: String
    var transient: Bool
    /// The output folder's filesystem is full: wait for space, not the output's fault.
    var noSpace = false
    init(_ reason: String, transient: Bool, noSpace: Bool = false) {
        self.reason = reason
        self.transient = transient
        self.noSpace = noSpace
    }
    var description: String { reason }
}

/// Outputs being downloaded right now and when each last received bytes (or began), so a slow
/// one is not started twice and stops holding a slot while it receives nothing.
final class ActiveDownloads: Sendable {
    private let active = Mutex<[String: Date]>([:])

    struct Slots {
        /// Downloads that received bytes (or began) less than `slowAfter` ago.
        var holding: Int
        var running: Int
        /// When the next of those turns slow.
        var nextSlowAt: Date?
    }

    func slots(now: Date, slowAfter: TimeInterval) -> Slots {
        active.withLock { active in
            let young = active.values.filter { now.timeIntervalSince($0) < slowAfter }
            return Slots(holding: young.count, running: active.count, nextSlowAt: young.min().map { $0.addingTimeInterval(slowAfter) })
        }
    }

    func claim(_ download: PendingDownload, at now: Date) -> Bool {
        active.withLock { active in
            guard active[Self.key(download)] == nil else { return false }
            active[Self.key(download)] = now
            return true
        }
    }

    func progressed(_ download: PendingDownload, at now: Date) {
        active.withLock { active in
            if active[Self.key(download)] != nil { active[Self.key(download)] = now }
        }
    }

    func release(_ download: PendingDownload) {
        _ = active.withLock { $0.removeValue(forKey: Self.key(download)) }
    }

    private static func key(_ download: PendingDownload) -> String { "\(download.jobId)/\(download.kind.rawValue)/\(download.index)" }
}
