import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import QueueStore
import QueueSupport
import Synchronization

/// Downloads every image and video of completed jobs to `<dir>/<job id>/<position>.<ext>`,
/// before Legnext's signed URLs expire: streamed to a temporary file and renamed, with size,
/// content type and SHA-256 in `job_outputs`. Its own connections and concurrency, outside
/// the Legnext request budget. A half-done download is redone after a restart; a done one never.
public struct OutputDownloader: Sendable {
    public struct Configuration: Sendable {
        public var directory: String
        /// Hosts allowed (`cdn.example.com`, or `*.example.com` for any subdomain).
        public var allowedHosts: [String]
        public var concurrency = 2
        public var maxBytes = 100 << 20
        public var maxAttempts = 6
        public var requestTimeout: TimeAmount = .minutes(5)
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
    let wakeup = Wakeup()

    public init(store: QueueStore, configuration: Configuration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// New outputs may be waiting (a job completed).
    public func wake() { wakeup.signal() }

    /// Runs until cancelled; downloads under way at cancellation are redone at the next start.
    public func run() async {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .seconds(60)),
                decompression: .disabled
            )
        )
        await withDiscardingTaskGroup { group in
            let active = ActiveDownloads()
            while !Task.isCancelled {
                let free = configuration.concurrency - active.count
                let due = free > 0 ? ((try? await store.dueDownloads(now: Date(), limit: free + active.count)) ?? []) : []
                var started = 0
                for download in due where started < free && active.claim(download) {
                    started += 1
                    group.addTask {
                        await fetch(download, client)
                        active.release(download)
                        wakeup.signal()
                    }
                }
                if started > 0, started == free { continue }  // more may be due
                // Everything due is under way (or nothing is): sleep until a download ends, a
                // job completes, a retry falls due, or the periodic look.
                let now = Date()
                let retry = (try? await store.nextDownloadTime(after: now)) ?? nil
                await wait(until: min(retry ?? .distantFuture, now.addingTimeInterval(configuration.idleCheck)))
            }
        }
        try? await client.shutdown()
    }

    private func wait(until deadline: Date) async {
        let delay = deadline.timeIntervalSinceNow
        if delay > 0 { _ = await wakeup.wait(timeout: .milliseconds(Int64(delay * 1000) + 1)) }
    }

    /// One attempt at one output, recorded whatever its end.
    func fetch(_ download: PendingDownload, _ client: HTTPClient) async {
        var log = logger
        log[metadataKey: "lnq.job.id"] = "\(download.jobId)"
        do {
            // Claimed after the task that did it released it, so this read sees its commit.
            guard try await store.isPending(download) else { return }
            let (path, size, type, digest) = try await save(download, client)
            try await store.downloadSucceeded(download, path: path, size: size, contentType: type, sha256: digest)
            log.info("job \(download.jobId): saved \(download.kind.rawValue) \(download.index) to \(path) (\(size) bytes)")
        } catch let failure as DownloadFailure {
            let attempts = download.attempts + 1
            let retryAt = failure.transient && attempts < configuration.maxAttempts ? Date().addingTimeInterval(Self.backoff(attempts)) : nil
            if retryAt == nil {
                log.warning("job \(download.jobId): \(download.kind.rawValue) \(download.index) not downloaded: \(failure.reason)")
            } else {
                log.info("job \(download.jobId): download of \(download.kind.rawValue) \(download.index) failed (\(failure.reason)); trying again")
            }
            let reason = retryAt == nil && failure.transient ? "\(failure.reason) (gave up after \(attempts) attempts)" : failure.reason
            try? await store.downloadFailed(download, error: reason, retryAt: retryAt)
        } catch {
            log.warning("job \(download.jobId): cannot record the download: \(error)")
        }
    }

    static func backoff(_ attempts: Int) -> TimeInterval {
        min(300, pow(2, Double(attempts))) * Double.random(in: 0.75...1.25)
    }

    /// Streams the output to a temporary file beside its final name, then renames it.
    private func save(_ download: PendingDownload, _ client: HTTPClient) async throws -> (String, Int, String, String) {
        let url = try checkedURL(download.url)
        let folder = (configuration.directory as NSString).appendingPathComponent(String(download.jobId))
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DownloadFailure("cannot create \(folder): \(error.localizedDescription)", transient: true)
        }
        let temporary = (folder as NSString).appendingPathComponent(".\(download.position).part")
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: configuration.requestTimeout)
        } catch {
            throw DownloadFailure("\(error)", transient: true)
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
            throw DownloadFailure("cannot write \(temporary)", transient: true)
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
                chunk.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
                try file.write(contentsOf: chunk.readableBytesView)
            }
            try file.synchronize()
        } catch let failure as DownloadFailure {
            try? FileManager.default.removeItem(atPath: temporary)
            throw failure
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DownloadFailure("\(error)", transient: true)
        }
        let final = (folder as NSString).appendingPathComponent("\(download.position).\(Self.fileExtension(type))")
        guard rename(temporary, final) == 0 else {
            throw DownloadFailure("cannot rename \(temporary) to \(final): errno \(errno)", transient: true)
        }
        let digest = hash.finalize().map { String(format: "%02x", $0) }.joined()
        return (final, size, type, digest)
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
    init(_ reason: String, transient: Bool) {
        self.reason = reason
        self.transient = transient
    }
    var description: String { reason }
}

/// Outputs being downloaded right now, so a slow one is not started twice.
final class ActiveDownloads: Sendable {
    private let active = Mutex<Set<String>>([])

    var count: Int { active.withLock { $0.count } }

    func claim(_ download: PendingDownload) -> Bool {
        active.withLock { $0.insert(Self.key(download)).inserted }
    }

    func release(_ download: PendingDownload) {
        _ = active.withLock { $0.remove(Self.key(download)) }
    }

    private static func key(_ download: PendingDownload) -> String { "\(download.jobId)/\(download.kind.rawValue)/\(download.index)" }
}
