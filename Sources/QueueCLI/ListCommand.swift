import ArgumentParser
import Foundation
import QueueStore
import QueueSupport

/// `legnext-queue list`: jobs, newest first.
public struct ListCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first.")

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Option(help: "Only jobs in this state (\(JobState.allCases.map(\.rawValue).joined(separator: ", "))).") var state: String?
    @Option(help: "Only jobs with this tag.") var tag: String?
    @Option(help: "At most this many jobs.") var limit = 20
    @Flag(help: "Every matching job, however many.") var all = false
    @Flag(help: "Print a JSON array.") var json = false

    public init() {}

    public func validate() throws {
        if let state, JobState(rawValue: state) == nil {
            throw ValidationError("unknown state \"\(state)\": use one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            let chosen = state.flatMap(JobState.init(rawValue:))
            let jobs = try store.list(state: chosen, tag: tag, limit: all ? nil : limit)
            if !all, jobs.count == limit {
                let total = try store.jobCount(state: chosen, tag: tag)
                if total > jobs.count {
                    printError("\(countText(jobs.count)) of \(countText(total)) shown, newest first (--all, or --limit N, for more)")
                }
            }
            if json {
                print(JobJSON.render(.array(jobs.map(JobJSON.job))))
                return
            }
            guard !jobs.isEmpty else {
                printError("no jobs" + (state.map { " in state \($0)" } ?? "") + (tag.map { " with tag \($0)" } ?? ""))
                return
            }
            let now = Date()
            var lines = ["     ID  STATE        KIND         AGE       TAG           PROMPT / ERROR"]
            for job in jobs {
                let detail =
                    job.readError ?? (job.state == .failed || job.state == .uncertain ? (job.error ?? job.reason ?? "") : (job.prompt ?? job.params))
                lines.append(
                    String(job.id).leftPad(7) + "  " + job.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                        + job.kind.truncated(11).padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                        + TimeSpec.age(now.timeIntervalSince(job.createdAt)).padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                        + (job.tag ?? "-").truncated(12).padding(toLength: 12, withPad: " ", startingAt: 0) + "  "
                        + detail.truncated(60)
                )
            }
            print(lines.joined(separator: "\n"))
        }
    }
}
