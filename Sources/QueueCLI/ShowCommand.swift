import ArgumentParser
import Foundation
import QueueStore
import QueueSupport

/// `legnext-queue show ID`: one job, its history and its outputs.
public struct ShowCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one job with its events and outputs.")

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Argument(help: "Job id.") var id: Int64
    @Flag(help: "Print one JSON object with events and outputs arrays.") var json = false

    public init() {}

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            let detail = try store.detail(id)
            print(json ? JobJSON.render(JobJSON.detail(detail)) : Self.text(detail))
        }
    }

    static func text(_ detail: JobDetail) -> String {
        let job = detail.job
        var lines: [String] = []
        func field(_ name: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            lines.append(name.padding(toLength: 14, withPad: " ", startingAt: 0) + value)
        }
        field("job", "\(job.id)")
        field("state", job.state.rawValue + (job.reason.flatMap { $0 == job.state.rawValue ? nil : " (\($0))" } ?? ""))
        field("kind", job.kind)
        field("prompt", job.prompt)
        field("params", job.params == "{}" ? nil : job.params)
        field("tag", job.tag)
        field("priority", job.priority == 0 ? nil : String(job.priority))
        field("parent", job.parentId.map(String.init))
        field("key", job.idempotencyKey)
        field("pinned to", job.account)
        field("run after", job.runAfter.map(Timestamp.format))
        field("remote job", job.remoteJobId.map { $0 + (job.remoteStatus.map { " (\($0))" } ?? "") })
        field("account", job.remoteJobId == nil ? nil : job.remoteAccount)
        field("attempts", job.attempts == 0 ? nil : String(job.attempts))
        field("requests", job.requests == 0 ? nil : String(job.requests))
        field("error", job.error)
        field("unreadable", job.readError)
        field("error detail", job.errorDetail)
        field("credits used", job.creditsUsed.map(String.init))
        field("created", Timestamp.format(job.createdAt))
        field("submitted", job.submittedAt.map(Timestamp.format))
        field("finished", job.finishedAt.map(Timestamp.format))
        if !detail.outputs.isEmpty {
            lines.append("")
            lines.append("outputs")
            for output in detail.outputs {
                lines.append("  \(output.kind.rawValue) \(output.index)  " + (output.url ?? output.text ?? ""))
                if let download = output.download {
                    switch download.state {
                    case "done": lines.append("    saved \(download.path ?? "?") (\(download.size ?? 0) bytes, sha256 \(download.sha256 ?? "?"))")
                    case "failed": lines.append("    not downloaded: \(download.error ?? "?")")
                    default: lines.append("    download pending" + (download.error.map { " (last try: \($0))" } ?? ""))
                    }
                }
            }
        }
        if !detail.notifications.isEmpty {
            lines.append("")
            lines.append("notifications")
            for note in detail.notifications {
                var line = "  \(note.channel.rawValue) \(note.deliveryId)  \(note.state), \(note.attempts) attempt(s)"
                if let at = note.deliveredAt { line += ", delivered \(Timestamp.format(at))" }
                if let error = note.lastError, note.state != "delivered" { line += ", last error: \(error)" }
                lines.append(line)
            }
        }
        lines.append("")
        for problem in detail.unreadable { lines.append("unreadable    " + problem) }
        lines.append("events")
        if detail.events.isEmpty { lines.append("  (none yet)") }
        for event in detail.events {
            let change = [event.fromState, event.toState].compactMap { $0 }.joined(separator: " → ")
            lines.append("  \(Timestamp.format(event.at))  \(change.isEmpty ? "note" : change)" + (event.detail.map { "  \($0)" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
