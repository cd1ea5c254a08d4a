import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFileSystem
import QueueStore

/// Serves a saved output by job id, kind and index, from the path the downloader recorded,
/// and only when that path (links resolved) lies in the job's folder of the outputs
/// directory: a path typed into `job_outputs` by hand opens nothing else. The file read is
/// the one checked: opened without following a link in its last component, then the same
/// device, inode, size and modification time as when it was checked. Only image and video
/// types are served as such; anything else is a download, never a page of this origin.
extension ConsoleServer {
    static let servedTypes: Set<String> = ["image/png", "image/jpeg", "image/webp", "image/gif", "video/mp4", "video/webm"]
    static let thumbnailTypes: Set<String> = ["image/png", "image/webp"]
    /// The largest file read whole to make a thumbnail (a bigger one is shown as it is).
    static let maxThumbnailSource: Int64 = 64 << 20
    /// One decode at a time: a large image holds up to 100 MB while it is shrunk.
    static let codecQueue = DispatchQueue(label: "legnext-queue.console.thumbnails")

    /// A saved output as checked.
    struct SavedFile: Sendable {
        var path: String
        /// The type it is served as, nil when it is offered as a download.
        var type: String?
        var size: Int64
        var device: UInt64
        var inode: UInt64
        var modified: (seconds: Int64, nanoseconds: Int64)
        /// Names this version of the file (a replaced or rewritten file gets another).
        var tag: String {
            "\""
                + [Int64(bitPattern: device), Int64(bitPattern: inode), size, modified.seconds, modified.nanoseconds].map { String($0, radix: 16) }
                .joined(separator: "-") + "\""
        }
        var thumbnailTag: String { "\"thumb-" + tag.dropFirst() }

        init(path: String, status info: stat) {
            self.path = path
            size = Int64(info.st_size)
            device = UInt64(truncatingIfNeeded: info.st_dev)
            inode = UInt64(truncatingIfNeeded: info.st_ino)
            modified = (Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec))
        }

        /// Whether `info` (of an opened file) is this very file, unchanged since it was checked:
        /// same device and inode, same size and modification time, still a regular file.
        func isSame(_ info: stat) -> Bool {
            (info.st_mode & S_IFMT) == S_IFREG && UInt64(truncatingIfNeeded: info.st_dev) == device
                && UInt64(truncatingIfNeeded: info.st_ino) == inode && Int64(info.st_size) == size
                && Int64(info.st_mtim.tv_sec) == modified.seconds && Int64(info.st_mtim.tv_nsec) == modified.nanoseconds
        }
    }

    enum Lookup {
        case found(SavedFile)
        case refused(Response)
    }

    func lookUp(id: Int64, kind: String, index: Int) async throws -> Lookup {
        guard let outputKind = JobOutput.Kind(rawValue: kind), outputKind != .text else { return .refused(Self.notFound("no such output kind")) }
        let store = self.store
        guard let stored = try await offload({ try store.storedFile(jobId: id, kind: outputKind, index: index) }) else {
            return .refused(Self.notFound("job \(id) has no saved \(kind) \(index)"))
        }
        guard let directory = configuration.outputDirectory, var saved = Self.contained(stored.path, in: directory, job: id) else {
            return .refused(Self.notFound("the file of job \(id)'s \(kind) \(index) is not in the outputs directory"))
        }
        let type = stored.contentType.map { $0.split(separator: ";").first.map(String.init) ?? $0 }.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        saved.type = type.flatMap { Self.servedTypes.contains($0) ? $0 : nil }
        return .found(saved)
    }

    /// The saved file of `id`'s `kind` `index` answered by `answer`, or why there is none.
    func withSaved(id: Int64, kind: String, index: Int, _ answer: (SavedFile) async throws -> Response) async throws -> Response {
        switch try await lookUp(id: id, kind: kind, index: index) {
        case .refused(let response): return response
        case .found(let saved): return try await answer(saved)
        }
    }

    func file(_ request: Request, id: Int64, kind: String, index: Int) async throws -> Response {
        try await withSaved(id: id, kind: kind, index: index) { serve($0, request) }
    }

    /// What every answer with a file (or its thumbnail) carries.
    static func fileHeaders(type: String, tag: String) -> HTTPFields {
        [.contentType: type, .cacheControl: "private, max-age=86400", .eTag: tag, .contentSecurityPolicy: "sandbox"]
    }

    /// The file, a part of it (`Range`), or 304 when the browser has this version.
    func serve(_ saved: SavedFile, _ request: Request) -> Response {
        var headers = Self.fileHeaders(type: saved.type ?? "application/octet-stream", tag: saved.tag)
        headers[.acceptRanges] = "bytes"
        if saved.type == nil { headers[.contentDisposition] = "attachment" }
        if Self.matches(request.headers[.ifNoneMatch], saved.tag) { return Response(status: .notModified, headers: headers) }
        // A part only of the version the browser holds (If-Range); else the whole file.
        let current = request.headers[.ifRange].map { $0 == saved.tag } ?? true
        let asked = current ? request.headers[.range] : nil
        switch ByteRange.parse(asked, size: saved.size) {
        case .whole:
            return Response(status: .ok, headers: headers, body: Self.body(of: saved, 0..<saved.size))
        case .part(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(saved.size)"
            return Response(status: .partialContent, headers: headers, body: Self.body(of: saved, range))
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(saved.size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
    }

    /// A tile's picture: the thumbnail of a PNG or WebP, else the file itself.
    func thumbnail(_ request: Request, id: Int64, kind: String, index: Int) async throws -> Response {
        try await withSaved(id: id, kind: kind, index: index) { saved in
            guard let type = saved.type, Self.thumbnailTypes.contains(type), saved.size <= Self.maxThumbnailSource else {
                return serve(saved, request)
            }
            let headers = Self.fileHeaders(type: "image/webp", tag: saved.thumbnailTag)
            // The browser holds it: no need to make it again (after a restart) to say so.
            if Self.matches(request.headers[.ifNoneMatch], saved.thumbnailTag) { return Response(status: .notModified, headers: headers) }
            let logger = self.logger
            let outcome = try await thumbnails.thumbnail(saved.tag) {
                // Read and decode under one turn of the queue: one source and one image in memory at a time.
                let outcome = try await withCheckedThrowingContinuation { continuation in
                    Self.codecQueue.async {
                        continuation.resume(
                            with: Result { () throws -> ThumbnailCache.Outcome in
                                let data = try Self.contents(of: saved)
                                return Result(catching: { () throws(Thumbnail.Refusal) -> [UInt8] in try Thumbnail.make(from: data) })
                            }
                        )
                    }
                }
                if case .failure(let refusal) = outcome, refusal != .small {
                    logger.notice("console: job \(id)'s \(kind) \(index) is shown without a thumbnail: \(refusal)")
                }
                return outcome
            }
            switch outcome {
            case .failure: return serve(saved, request)
            case .success(let webp): return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: webp)))
            }
        }
    }

    /// Whether an `If-None-Match` names `tag` (weakly: a `W/` prefix is ignored).
    static func matches(_ header: String?, _ tag: String) -> Bool {
        guard let header else { return false }
        if header.trimmingCharacters(in: .whitespaces) == "*" { return true }
        return header.split(separator: ",").contains {
            let candidate = $0.trimmingCharacters(in: .whitespaces)
            return (candidate.hasPrefix("W/") ? String(candidate.dropFirst(2)) : candidate) == tag
        }
    }

    static func body(of saved: SavedFile, _ range: Range<Int64>) -> ResponseBody {
        ResponseBody(contentLength: Int(range.count)) { writer in
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(saved.path), options: .init(followSymbolicLinks: false)) { handle in
                // Checked before the first byte goes: a file changed since is cut off, never mixed.
                guard let info = try await handle.info().platformSpecificStatus, saved.isSame(info) else { throw ReplacedFile(path: saved.path) }
                for try await chunk in handle.readChunks(in: range, chunkLength: .kibibytes(128)) {
                    try await writer.write(chunk)
                }
            }
            try await writer.finish(nil)
        }
    }

    /// The whole file, read from the checked file (blocking: on the codec queue).
    static func contents(of saved: SavedFile) throws -> [UInt8] {
        let fd = open(saved.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ReplacedFile(path: saved.path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, saved.isSame(info) else { throw ReplacedFile(path: saved.path) }
        let count = Int(saved.size)
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw ReplacedFile(path: saved.path) }
            done += n
        }
        return bytes
    }

    struct ReplacedFile: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) changed between its check and its reading, or cannot be read" }
    }

    /// `path` resolved, if it is a regular file under `directory/<job>/`.
    static func contained(_ path: String, in directory: String, job: Int64) -> SavedFile? {
        guard let real = realpath(path), let root = realpath(directory) else { return nil }
        let folder = root + "/\(job)/"
        guard real.hasPrefix(folder) else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return SavedFile(path: real, status: info)
    }

    static func realpath(_ path: String) -> String? {
        guard let resolved = Foundation.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func notFound(_ why: String) -> Response {
        Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: why + "\n")))
    }
}
