import ArgumentParser
import Foundation
import QueueStore

/// `legnext-queue cancel ID…`.
public struct CancelCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel queued jobs (and settle uncertain ones without resending)."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Argument(help: "Job ids.") var ids: [Int64]

    public init() {}

    public func validate() throws {
        if ids.isEmpty { throw ValidationError("give the ids of the jobs to cancel") }
    }

    public func run() async throws {
        try await reportingErrors {
            let results = try global.openExisting().cancel(ids)
            try AdminReport.print(results, verb: "cancelled")
        }
    }
}

/// `legnext-queue retry ID…` and `retry --failed`.
public struct RetryCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Put failed, uncertain or cancelled jobs back in the queue.",
        discussion:
            "Attempts start again from zero; the old error stays in the job's events. An uncertain job may already have been charged by Legnext: retrying it sends it again."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Argument(help: "Job ids.") var ids: [Int64] = []
    @Flag(help: "Retry every failed job.") var failed = false

    public init() {}

    public func validate() throws {
        if ids.isEmpty, !failed { throw ValidationError("give job ids, or --failed for every failed job") }
        if !ids.isEmpty, failed { throw ValidationError("give job ids or --failed, not both") }
    }

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            if failed {
                let retried = try store.retryFailed()
                Swift.print(retried.isEmpty ? "no failed jobs" : "requeued \(retried.count) failed job(s): " + AdminReport.compact(retried))
                return
            }
            let results = try store.retry(ids)
            for result in results {
                if case .done(.uncertain) = result.outcome {
                    printError("note: job \(result.id) was uncertain; if its first request reached Legnext, this retry is a second charge")
                }
            }
            try AdminReport.print(results, verb: "requeued")
        }
    }
}

enum AdminReport {
    /// One line per job; the exit status is the worst: 66 for a missing job, else 65 for a refusal.
    static func print(_ results: [(id: Int64, outcome: AdminOutcome)], verb: String) throws {
        var status: Int32 = 0
        for (id, outcome) in results {
            switch outcome {
            case .done(let from):
                Swift.print("job \(id): \(verb) (was \(from.rawValue))")
            case .notFound:
                printError("job \(id): no such job")
                status = CLIError.noInput
            case .refused(let why):
                printError("job \(id): not \(verb): \(why)")
                if status == 0 { status = CLIError.dataError }
            }
        }
        if status != 0 { throw ExitCode(status) }
    }

    static func compact(_ ids: [Int64]) -> String {
        ids.count <= 20 ? ids.map(String.init).joined(separator: " ") : ids.prefix(20).map(String.init).joined(separator: " ") + " …"
    }
}
