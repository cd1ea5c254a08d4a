import ArgumentParser
import Foundation
import QueueStore

/// Which jobs a `cancel` or `retry` acts on when no ids are given.
struct JobSelection: ParsableArguments {
    @Option(help: "Only jobs with this tag.") var tag: String?
    @Option(help: "Only jobs in this state.") var state: String?
    @Option(help: "Only jobs of this kind.") var kind: String?

    var isEmpty: Bool { tag == nil && state == nil && kind == nil }

    /// The states selected: `--state` when given (it must be one of `allowed`), else `defaults`.
    func states(allowed: [JobState], defaults: [JobState], verb: String) throws -> [JobState] {
        guard let state else { return defaults }
        guard let chosen = JobState(rawValue: state), allowed.contains(chosen) else {
            throw ValidationError("only \(allowed.map(\.rawValue).joined(separator: ", ")) jobs can be \(verb) (got --state \(state))")
        }
        return [chosen]
    }

    func describe(_ states: [JobState]) -> String {
        states.map(\.rawValue).joined(separator: "/") + " jobs" + (tag.map { " with tag \($0)" } ?? "") + (kind.map { " of kind \($0)" } ?? "")
    }
}

/// `legnext-queue cancel ID…`, or every job a `--tag` / `--state` / `--kind` selection names.
public struct CancelCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel queued jobs (and settle uncertain ones without resending).",
        discussion:
            "With --force, a job Legnext already has (submitting, pending, staged, processing) is settled here too: the daemon stops following it, and Legnext may still run it and charge for it. A selection without --state cancels queued jobs (with --force, every unfinished one)."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Argument(help: "Job ids.") var ids: [Int64] = []
    @OptionGroup var selection: JobSelection
    @Flag(help: "Also settle jobs Legnext already has; it may still run and charge them.") var force = false

    public init() {}

    static let cancellable: [JobState] = [.queued, .uncertain, .submitting, .pending, .staged, .processing]

    public func validate() throws {
        if ids.isEmpty, selection.isEmpty { throw ValidationError("give the ids of the jobs to cancel, or --tag, --state or --kind") }
        if !ids.isEmpty, !selection.isEmpty { throw ValidationError("give job ids or --tag/--state/--kind, not both") }
        _ = try selection.states(allowed: Self.cancellable, defaults: [], verb: "cancelled")
    }

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            var targets = ids
            if !selection.isEmpty {
                let states = try selection.states(allowed: Self.cancellable, defaults: force ? Self.cancellable : [.queued], verb: "cancelled")
                targets = try store.ids(states: states, tag: selection.tag, kind: selection.kind)
                if targets.isEmpty {
                    Swift.print("no \(selection.describe(states))")
                    return
                }
            }
            let results = try store.cancel(targets, force: force)
            if force, results.contains(where: { if case .done(let from) = $0.outcome { from.isInFlight } else { false } }) {
                printError("note: Legnext may still run the jobs it had and charge for them; their results will not be kept")
            }
            try AdminReport.print(results, verb: "cancelled")
        }
    }
}

/// `legnext-queue retry ID…`, `retry --failed`, or a `--tag` / `--state` / `--kind` selection.
public struct RetryCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Put failed, uncertain or cancelled jobs back in the queue.",
        discussion:
            "Attempts start again from zero; the old error stays in the job's events. An uncertain job may already have been charged by Legnext: retrying it sends it again. A selection without --state retries failed jobs."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Argument(help: "Job ids.") var ids: [Int64] = []
    @Flag(help: "Retry every failed job (the same as --state failed).") var failed = false
    @OptionGroup var selection: JobSelection

    public init() {}

    static let retryable: [JobState] = [.failed, .cancelled, .uncertain]

    public func validate() throws {
        if ids.isEmpty, !failed, selection.isEmpty { throw ValidationError("give job ids, or --failed, --tag, --state or --kind") }
        if !ids.isEmpty, failed || !selection.isEmpty {
            throw ValidationError("give job ids or a selection (--failed, --tag, --state, --kind), not both")
        }
        if failed, selection.state != nil { throw ValidationError("give --failed or --state, not both") }
        _ = try selection.states(allowed: Self.retryable, defaults: [], verb: "retried")
    }

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            var targets = ids
            if failed || !selection.isEmpty {
                let states = try selection.states(allowed: Self.retryable, defaults: [.failed], verb: "retried")
                targets = try store.ids(states: states, tag: selection.tag, kind: selection.kind)
                if targets.isEmpty {
                    Swift.print("no \(selection.describe(states))")
                    return
                }
            }
            let results = try store.retry(targets)
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
