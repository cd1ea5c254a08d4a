import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

/// A job as a person described it (arguments, flags or a line of a file), before it is checked.
struct JobDraft {
    var kind: String
    var prompt: String?
    var params: [String: JSONValue]
    var priority: Int
    var after: Date?
    var key: String?
    var parent: Int64?
    var tag: String?
    /// The account the job must be sent with (nil: any).
    var account: String? = nil
    /// Line of the input file, for error messages.
    var line: Int?

    /// Checks the draft against the endpoint's rules (the daemon's own, at claim); the message
    /// says what is wrong. A pan's direction is given by name and stored as Legnext's number.
    mutating func check() throws(RequestValidationError) {
        if kind == LegnextKind.pan.rawValue, let direction = params["direction"] {
            guard let name = direction.stringValue, let named = PanDirection(name: name) else {
                throw RequestValidationError(
                    "give the pan direction by name: direction=\(PanDirection.names) (a bare number is ambiguous: Legnext numbers them 0 down, 1 right, 2 up, 3 left, its Python SDK otherwise)"
                )
            }
            params["direction"] = .int(named.rawValue)
        }
        // The parent's Legnext id is unknown until it completes; a placeholder checks the rest.
        _ = try LegnextRequest.job(kind: kind, prompt: prompt, params: params, hasParent: parent != nil, parentRemoteJobId: "parent")
    }

    var newJob: NewJob {
        NewJob(
            kind: kind,
            prompt: prompt,
            params: params.isEmpty ? "{}" : JSONValue.object(params).jsonText,
            tag: tag,
            priority: priority,
            runAfter: after,
            idempotencyKey: key,
            parentId: parent,
            account: account
        )
    }
}

/// Reads `--file` input: one job per line, a plain prompt or a JSON object.
struct JobFileReader {
    /// Flags that apply to every line unless the line says otherwise.
    var defaults: JobDraft
    var now: Date

    struct LineError: Error {
        var line: Int
        var message: String
    }

    /// Every job of `data`, or every bad line (all of them, so a person can fix the file in one go).
    enum Outcome {
        case jobs([JobDraft])
        case badLines([LineError])
    }

    func read(_ data: Data) -> Outcome {
        var drafts: [JobDraft] = []
        var errors: [LineError] = []
        var lineNumber = 0
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            let count = bytes.count
            while start < count {
                var end = start
                while end < count, bytes[end] != 10 { end += 1 }
                lineNumber += 1
                var stop = end
                if stop > start, bytes[stop - 1] == 13 { stop -= 1 }
                let line = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<stop]), as: UTF8.self)
                start = end + 1
                // Blank lines and `#` comments (after any indentation) are not jobs.
                if line.isBlank || line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") { continue }
                switch parse(line, number: lineNumber) {
                case .success(var draft):
                    do throws(RequestValidationError) {
                        try draft.check()
                        drafts.append(draft)
                    } catch {
                        errors.append(LineError(line: lineNumber, message: error.message))
                    }
                case .failure(let error):
                    errors.append(error)
                }
            }
        }
        return errors.isEmpty ? .jobs(drafts) : .badLines(errors)
    }

    private func parse(_ line: String, number: Int) -> Result<JobDraft, LineError> {
        var draft = defaults
        draft.line = number
        guard line.utf8.first == UInt8(ascii: "{") else {
            draft.prompt = line
            return .success(draft)
        }
        guard case .object(let object)? = JSONValue(parsing: line) else {
            return .failure(LineError(line: number, message: "the line starts with '{' but is not a JSON object"))
        }
        let known: Set<String> = ["prompt", "kind", "params", "priority", "key", "after", "parent", "tag", "account"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return .failure(
                LineError(
                    line: number,
                    message: "unknown field \"\(unknown)\" (fields: prompt, kind, params, priority, key, after, parent, tag, account)"
                )
            )
        }
        func fail(_ message: String) -> Result<JobDraft, LineError> { .failure(LineError(line: number, message: message)) }
        draft.prompt = nil
        switch object["prompt"] {
        case .string(let prompt)?: draft.prompt = prompt
        case .null?, nil: break
        default: return fail("prompt must be a string")
        }
        if let kind = object["kind"] {
            guard let name = kind.stringValue else { return fail("kind must be a string") }
            draft.kind = name
        }
        if let params = object["params"] {
            guard let members = params.objectValue else { return fail("params must be a JSON object") }
            draft.params.merge(members) { _, line in line }
        }
        if let priority = object["priority"] {
            guard let value = priority.intValue else { return fail("priority must be an integer") }
            draft.priority = value
        }
        if let key = object["key"] {
            guard let value = key.stringValue, !value.isEmpty else { return fail("key must be a non-empty string") }
            draft.key = value
        }
        if let after = object["after"] {
            if let seconds = after.doubleValue {
                draft.after = now.addingTimeInterval(seconds)
            } else if let text = after.stringValue, let date = TimeSpec.after(text, now: now) {
                draft.after = date
            } else {
                return fail("after must be \(TimeSpec.afterHelp)")
            }
        }
        if let parent = object["parent"] {
            guard let id = parent.intValue, id > 0 else { return fail("parent must be a job id") }
            draft.parent = Int64(id)
        }
        if let tag = object["tag"] {
            guard let value = tag.stringValue else { return fail("tag must be a string") }
            draft.tag = value
        }
        if let account = object["account"] {
            guard let value = account.stringValue, AccountRoute.isValidName(value) else {
                return fail("account must be an account's name (1–32 of a–z, 0–9, - and _)")
            }
            draft.account = value
        }
        return .success(draft)
    }
}
