import Foundation
import Hummingbird
import QueueStore

/// Serves a saved output by job id, kind and index, from the path the downloader recorded,
/// and only when that path (links resolved) lies in the job's folder of the outputs
/// directory: a path typed into `job_outputs` by hand opens nothing else. Only image and
/// video types are served as such; anything else is a download, never a page of this origin.
extension ConsoleServer {
    static let servedTypes: Set<String> = ["image/png", "image/jpeg", "image/webp", "image/gif", "video/mp4", "video/webm"]

    func file(id: Int64, kind: String, index: Int, context: BasicRequestContext) async throws -> Response {
        guard let outputKind = JobOutput.Kind(rawValue: kind), outputKind != .text else { return Self.notFound("no such output kind") }
        let store = self.store
        guard let stored = try await offload({ try store.storedFile(jobId: id, kind: outputKind, index: index) }) else {
            return Self.notFound("job \(id) has no saved \(kind) \(index)")
        }
        guard let directory = configuration.outputDirectory, let path = Self.contained(stored.path, in: directory, job: id) else {
            return Self.notFound("the file of job \(id)'s \(kind) \(index) is not in the outputs directory")
        }
        let type = stored.contentType.map { $0.split(separator: ";").first.map(String.init) ?? $0 }.map { $0.lowercased() }
        var headers: HTTPFields = [.cacheControl: "private, max-age=86400"]
        if let type, Self.servedTypes.contains(type) {
            headers[.contentType] = type
        } else {
            headers[.contentType] = "application/octet-stream"
            headers[.contentDisposition] = "attachment"
        }
        headers[.contentSecurityPolicy] = "sandbox"
        do {
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        } catch {
            return Self.notFound("the file of job \(id)'s \(kind) \(index) cannot be read")
        }
    }

    /// `path` resolved, if it is a regular file under `directory/<job>/`.
    static func contained(_ path: String, in directory: String, job: Int64) -> String? {
        guard let real = realpath(path), let root = realpath(directory) else { return nil }
        let folder = root + "/\(job)/"
        guard real.hasPrefix(folder) else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return real
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
