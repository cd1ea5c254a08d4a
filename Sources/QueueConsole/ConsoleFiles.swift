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
/// the one checked (same device and inode, last component not a link). Only image and video
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
        /// Names this version of the file (a replaced or rewritten file gets another).
        var tag: String
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

    func file(_ request: Request, id: Int64, kind: String, index: Int) async throws -> Response {
        switch try await lookUp(id: id, kind: kind, index: index) {
        case .refused(let response): return response
        case .found(let saved): return serve(saved, request)
        }
    }

    /// The file, a part of it (`Range`), or 304 when the browser has this version.
    func serve(_ saved: SavedFile, _ request: Request) -> Response {
        var headers: HTTPFields = [.cacheControl: "private, max-age=86400", .eTag: saved.tag, .acceptRanges: "bytes"]
        if let type = saved.type {
            headers[.contentType] = type
        } else {
            headers[.contentType] = "application/octet-stream"
            headers[.contentDisposition] = "attachment"
        }
        headers[.contentSecurityPolicy] = "sandbox"
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
        let saved: SavedFile
        switch try await lookUp(id: id, kind: kind, index: index) {
        case .refused(let response): return response
        case .found(let found): saved = found
        }
        guard let type = saved.type, Self.thumbnailTypes.contains(type), saved.size <= Self.maxThumbnailSource else {
            return serve(saved, request)
        }
        let outcome = try await thumbnails.thumbnail(saved.tag) {
            let data = try await Self.contents(of: saved)
            return await withCheckedContinuation { continuation in
                Self.codecQueue.async {
                    continuation.resume(returning: Result(catching: { () throws(Thumbnail.Refusal) -> [UInt8] in try Thumbnail.make(from: data) }))
                }
            }
        }
        switch outcome {
        case .failure(let refusal):
            if refusal != .small { logger.notice("console: job \(id)'s \(kind) \(index) is shown without a thumbnail: \(refusal)") }
            return serve(saved, request)
        case .success(let webp):
            let tag = "\"thumb-" + saved.tag.dropFirst()
            let headers: HTTPFields = [
                .contentType: "image/webp", .cacheControl: "private, max-age=86400", .eTag: tag, .contentSecurityPolicy: "sandbox",
            ]
            if Self.matches(request.headers[.ifNoneMatch], tag) { return Response(status: .notModified, headers: headers) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: webp)))
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
                try await verify(handle, is: saved)
                for try await chunk in handle.readChunks(in: range, chunkLength: .kibibytes(128)) {
                    try await writer.write(chunk)
                }
            }
            try await writer.finish(nil)
        }
    }

    static func contents(of saved: SavedFile) async throws -> [UInt8] {
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(saved.path), options: .init(followSymbolicLinks: false)) { handle in
            try await verify(handle, is: saved)
            let buffer = try await handle.readToEnd(maximumSizeAllowed: .bytes(maxThumbnailSource))
            return Array(buffer.readableBytesView)
        }
    }

    struct ReplacedFile: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) changed between its check and its reading" }
    }

    /// The opened file is the one `contained` checked, not one swapped in since.
    static func verify(_ handle: some FileHandleProtocol, is saved: SavedFile) async throws {
        let info = try await handle.info()
        guard info.type == .regular, let status = info.platformSpecificStatus, UInt64(status.st_dev) == saved.device,
            UInt64(status.st_ino) == saved.inode
        else { throw ReplacedFile(path: saved.path) }
    }

    /// `path` resolved, if it is a regular file under `directory/<job>/`.
    static func contained(_ path: String, in directory: String, job: Int64) -> SavedFile? {
        guard let real = realpath(path), let root = realpath(directory) else { return nil }
        let folder = root + "/\(job)/"
        guard real.hasPrefix(folder) else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let tag = [UInt64(info.st_dev), UInt64(info.st_ino), UInt64(info.st_size), UInt64(info.st_mtim.tv_sec), UInt64(info.st_mtim.tv_nsec)]
            .map { String($0, radix: 16) }.joined(separator: "-")
        return SavedFile(path: real, type: nil, size: Int64(info.st_size), device: UInt64(info.st_dev), inode: UInt64(info.st_ino), tag: "\"\(tag)\"")
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
