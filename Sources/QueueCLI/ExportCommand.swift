import ArgumentParser
import Foundation
import QueueStore
import QueueSupport

/// `legnext-queue export`: every job (or a tag's) with its results, as CSV or JSON lines, for a
/// spreadsheet or a script. Read in pages, so a million jobs need no more memory than a thousand.
public struct ExportCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write jobs with their prompt, tag, state, seed, output paths and URLs, and error, oldest first.",
        discussion: "CSV (one row per job; several paths or URLs are separated by spaces) or JSON lines (one object per job)."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv, jsonl
    }

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Option(help: "csv or jsonl.") var format: Format = .csv
    @Option(help: "Only jobs with this tag.") var tag: String?
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

    public init() {}

    static let columns = ["id", "kind", "state", "tag", "prompt", "seed", "output_paths", "output_urls", "error", "created_at", "finished_at"]

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            let handle: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw CLIError("cannot write \(output)", exitCode: CLIError.cannotCreate)
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                handle = FileHandle.standardOutput
            }
            defer { if output != nil { try? handle.close() } }
            if format == .csv { try Self.write(Self.columns.joined(separator: ",") + "\r\n", to: handle) }
            var after: Int64 = 0
            var written = 0
            while true {
                let page = try store.exportPage(tag: tag, after: after, limit: 1_000)
                guard let last = page.last else { break }
                var text = ""
                for item in page { text += format == .csv ? Self.csvLine(item) : Self.jsonLine(item) }
                try Self.write(text, to: handle)
                written += page.count
                after = last.job.id
            }
            if output != nil { printError("wrote \(written) job\(written == 1 ? "" : "s") to \(output!)") }
        }
    }

    /// A write error (a full disk, a closed pipe) is an error with a message, not a crash.
    static func write(_ text: String, to handle: FileHandle) throws {
        do {
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            throw CLIError("cannot write the export: \(error.localizedDescription)", exitCode: CLIError.ioError)
        }
    }

    static func fields(_ item: ExportedJob) -> [String] {
        let job = item.job
        let paths = item.outputs.compactMap { $0.download?.state == "done" ? $0.download?.path : nil }
        let urls = item.outputs.compactMap(\.url)
        return [
            String(job.id), job.kind, job.state.rawValue, job.tag ?? "", job.prompt ?? "", job.seed ?? "",
            paths.joined(separator: " "), urls.joined(separator: " "), job.error ?? job.readError ?? "",
            Timestamp.format(job.createdAt), job.finishedAt.map(Timestamp.format) ?? "",
        ]
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
    static func csvLine(_ item: ExportedJob) -> String {
        fields(item).map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",") + "\r\n"
    }

    static func jsonLine(_ item: ExportedJob) -> String {
        let job = item.job
        var object: [String: JSONValue] = [
            "id": .int(Int(job.id)), "kind": .string(job.kind), "state": .string(job.state.rawValue),
            "created_at": .string(Timestamp.format(job.createdAt)),
            "outputs": .array(
                item.outputs.map { output in
                    var entry: [String: JSONValue] = ["kind": .string(output.kind.rawValue), "index": .int(output.index)]
                    if let url = output.url { entry["url"] = .string(url) }
                    if let text = output.text { entry["text"] = .string(text) }
                    if output.download?.state == "done", let path = output.download?.path { entry["path"] = .string(path) }
                    return .object(entry)
                }
            ),
        ]
        if let tag = job.tag { object["tag"] = .string(tag) }
        if let prompt = job.prompt { object["prompt"] = .string(prompt) }
        if let seed = job.seed { object["seed"] = .string(seed) }
        if let error = job.error ?? job.readError { object["error"] = .string(error) }
        if let finished = job.finishedAt { object["finished_at"] = .string(Timestamp.format(finished)) }
        return JSONValue.object(object).jsonText + "\n"
    }
}
