import ArgumentParser
import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

/// `legnext-queue enqueue`: add jobs from arguments or from a file.
public struct EnqueueCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Add jobs to the queue.",
        discussion: """
            One diffusion job per PROMPT argument, or one job per line of --file: a plain prompt, or a JSON object
            with prompt, kind, params, priority, key, after, parent and tag. A file is imported in one transaction:
            every line or none. The flags give defaults for every line.

              legnext-queue enqueue "a red fox --ar 3:2" "a blue whale --v 7"
              legnext-queue enqueue --kind upscale --parent 17 --param imageNo=2 --param type=0
              legnext-queue enqueue --file prompts.txt --tag batch-7
            """
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }

    @Argument(help: "Prompts, one job each.") var prompts: [String] = []
    @Option(help: "Endpoint: diffusion (default), upscale, variation, … (see legnext-api.md).") var kind = "diffusion"
    @Option(
        name: .customLong("param"),
        help: ArgumentHelp("A request parameter, key=value; the value is JSON when it parses as JSON.", valueName: "key=value")
    )
    var params: [String] = []
    @Option(help: "Higher runs first.") var priority = 0
    @Option(help: ArgumentHelp("Not before: \(TimeSpec.afterHelp).", valueName: "duration|time")) var after: String?
    @Option(name: .customLong("key"), help: "Idempotency key: a job whose key is already queued is skipped.") var key: String?
    @Option(help: "Local id of the job this one follows up (upscale, variation, …).") var parent: Int64?
    @Option(help: "Your own reference, carried to listings and outputs.") var tag: String?
    @Option(
        help:
            "Send these jobs with this Legnext account only (one the daemon was last started with, see `status`); default: whichever has room. A follow-up always goes with its parent's account: pin it to that one or not at all."
    )
    var account: String?
    @Option(name: .customLong("file"), help: ArgumentHelp("Read one job per line from a file, or - for stdin.", valueName: "file"))
    var file: String?
    @Flag(help: "Print the result as JSON.") var json = false
    @Flag(
        name: .customLong("dry-run"),
        help: "Check and print the jobs and the points they would freeze, against the balance when a key is at hand; enqueue nothing."
    ) var dryRun = false
    @Option(name: .customLong("api-key-file"), help: "With --dry-run: the key to read the balance with (else $LEGNEXT_API_KEY).")
    var apiKeyFile: String?
    @Option(name: .customLong("base-url"), help: "With --dry-run: the Legnext API to read the balance from.") var baseURL: String?

    public init() {}

    public func validate() throws {
        if file != nil, !prompts.isEmpty { throw ValidationError("give prompts as arguments or --file, not both") }
        if key != nil, prompts.count > 1 { throw ValidationError("--key names one job: give one prompt, or use --file with a key per line") }
        if key != nil, file != nil { throw ValidationError("--key names one job: put a \"key\" on each line of the file instead") }
        if let account, !AccountRoute.isValidName(account) {
            throw ValidationError("--account must be an account's name: 1–32 of a–z, 0–9, - and _ (`legnext-queue status` lists the daemon's)")
        }
    }

    public func run() async throws {
        try await reportingErrors {
            let now = Date()
            var defaults = JobDraft(kind: kind, prompt: nil, params: [:], priority: priority, after: nil, key: key, parent: parent, tag: tag)
            defaults.account = account
            for param in params {
                let (name, value) = try Self.parseParam(param)
                defaults.params[name] = value
            }
            if let after {
                guard let date = TimeSpec.after(after, now: now) else { throw CLIError.usage("--after must be \(TimeSpec.afterHelp)") }
                defaults.after = date
            }
            var drafts: [JobDraft]
            let source: String?
            if let file {
                source = file == "-" ? "<stdin>" : file
                drafts = try readFile(file, defaults: defaults, now: now)
            } else {
                source = nil
                if prompts.isEmpty {
                    // A video of an earlier image job needs no prompt: the image is the subject.
                    let animatesImage = kind == LegnextKind.videoDiffusion.rawValue && (parent != nil || defaults.params["jobId"] != nil)
                    guard let kindInfo = LegnextKind(rawValue: kind), !kindInfo.promptRequired || animatesImage else {
                        throw CLIError.usage("give at least one prompt (or --file)")
                    }
                    drafts = [defaults]
                } else {
                    drafts = prompts.map { prompt in
                        var draft = defaults
                        draft.prompt = prompt
                        return draft
                    }
                }
                for index in drafts.indices {
                    do throws(RequestValidationError) {
                        try drafts[index].check()
                    } catch {
                        throw CLIError.bad(error.message)
                    }
                }
            }
            if dryRun {
                if drafts.contains(where: { $0.parent != nil }) { _ = try checkParents(drafts, store: try global.openExisting(), source: source) }
                try await DryRun(drafts: drafts, apiKeyFile: apiKeyFile, baseURL: baseURL).report()
                return
            }
            let store = try global.openCreating()
            let parents = try checkParents(drafts, store: store, source: source)
            try checkAccounts(drafts, parents: parents, store: store, source: source)
            let result: EnqueueResult
            do throws(StoreError) {
                result = try store.enqueue(drafts.map(\.newJob))
            } catch .rejected(let index, let message) {
                if let source, let line = drafts[index].line { throw CLIError.bad("\(source):\(line): \(message)") }
                throw CLIError.bad(message)
            } catch {
                throw error
            }
            report(result, fromFile: source != nil)
        }
    }

    private func readFile(_ file: String, defaults: JobDraft, now: Date) throws -> [JobDraft] {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError("no such file: \(file)", exitCode: CLIError.noInput) }
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read \(file)", exitCode: CLIError.noInput)
            }
            data = contents
        }
        let name = file == "-" ? "<stdin>" : file
        switch JobFileReader(defaults: defaults, now: now).read(data) {
        case .jobs(let drafts):
            guard !drafts.isEmpty else { throw CLIError.bad("\(name): no jobs in the file (it is empty or blank)") }
            return drafts
        case .badLines(let errors):
            let shown = errors.prefix(20).map { "\(name):\($0.line): \($0.message)" }
            let more = errors.count > 20 ? ["… and \(errors.count - 20) more bad lines"] : []
            throw CLIError.bad((shown + more + ["nothing was enqueued"]).joined(separator: "\n"))
        }
    }

    /// Refuses a pin to an account the daemon was not last started with (the schema would too,
    /// without naming the accounts there are).
    private func checkAccounts(_ drafts: [JobDraft], parents: [Int64: ParentJob], store: QueueStore, source: String?) throws {
        let pinned = drafts.filter { $0.account != nil }
        guard !pinned.isEmpty else { return }
        let known = try store.accounts().map(\.name)
        for draft in pinned {
            let account = draft.account!
            let message: String
            if !known.contains(account) {
                let running =
                    known.isEmpty ? "no daemon has recorded its accounts yet" : "the daemon was last started with \(known.joined(separator: ", "))"
                message = "unknown account \(account): \(running); start it with --account \(account), or leave the job unpinned"
            } else if let parent = draft.parent, let owner = parents[parent]?.madeOn, owner != account {
                message =
                    "job \(parent) was made on account \(owner), and a follow-up goes with its parent's account (a Legnext job id belongs to the account that made it): pin it to \(owner), or leave it unpinned"
            } else {
                continue
            }
            if let source, let line = draft.line { throw CLIError.bad("\(source):\(line): \(message)") }
            throw CLIError.bad(message)
        }
    }

    /// Parents must exist (a typo would otherwise make a job that waits forever) and fit the
    /// follow-up (an upscale of a video, an enhance of a job not in draft mode).
    /// Returns the parents found.
    private func checkParents(_ drafts: [JobDraft], store: QueueStore, source: String?) throws -> [Int64: ParentJob] {
        let wanted = Array(Set(drafts.compactMap(\.parent)))
        guard !wanted.isEmpty else { return [:] }
        let found = try store.parents(wanted, countingExtensions: drafts.contains { $0.kind == LegnextKind.extendVideo.rawValue })
        for draft in drafts {
            guard let id = draft.parent else { continue }
            let message: String
            if let parent = found[id] {
                guard let kind = LegnextKind(rawValue: draft.kind),
                    let why = kind.parentProblem(parentKind: parent.kind, parentPrompt: parent.prompt, extensions: parent.extensions)
                else { continue }
                message = "job \(id) cannot be the parent: \(why)"
            } else {
                message = "parent job \(id) does not exist"
            }
            if let source, let line = draft.line { throw CLIError.bad("\(source):\(line): \(message)\nnothing was enqueued") }
            throw CLIError(message, exitCode: found[id] == nil ? CLIError.noInput : CLIError.dataError)
        }
        return found
    }

    static func parseParam(_ text: String) throws -> (String, JSONValue) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw CLIError.usage("--param takes key=value (got \"\(text)\")")
        }
        let name = String(text[..<eq])
        let raw = String(text[text.index(after: eq)...])
        return (name, JSONValue(parsing: raw) ?? .string(raw))
    }

    private func report(_ result: EnqueueResult, fromFile: Bool) {
        if json {
            let object: JSONValue = [
                "ids": .array(result.ids.map { .int(Int($0)) }),
                "skipped": .int(result.skippedKeys.count),
                "skipped_keys": .array(result.skippedKeys.map { .string($0) }),
            ]
            print(object.jsonText)
            return
        }
        if !result.ids.isEmpty {
            var text = result.ids.map(String.init).joined(separator: "\n")
            text.append("\n")
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if !result.skippedKeys.isEmpty {
            let keys = result.skippedKeys.prefix(5).joined(separator: ", ") + (result.skippedKeys.count > 5 ? ", …" : "")
            printError("skipped \(result.skippedKeys.count) job(s) whose idempotency key is already queued: \(keys)")
        }
        if fromFile {
            printError("enqueued \(result.ids.count) job(s)")
        }
    }
}
