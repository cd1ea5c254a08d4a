import Foundation
import QueueSupport

/// Legnext's error object (inside a Job, or an HTTP error body).
public struct LegnextErrorInfo: Sendable, Hashable, Codable {
    public var code: Int?
    public var message: String
    public var rawMessage: String?
    public var detail: JSONValue?

    public init(code: Int?, message: String, rawMessage: String? = nil, detail: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.rawMessage = rawMessage
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case code, message
        case rawMessage = "raw_message"
        case detail
    }

    /// Reads an error object; nil when it says "no error" (code 0 and no message).
    init?(_ value: JSONValue?) {
        guard let object = value?.objectValue else { return nil }
        let code = object["code"]?.intValue
        let message = object["message"]?.stringValue ?? ""
        let raw = object["raw_message"]?.stringValue
        let detail = object["detail"].flatMap { $0.isNull ? nil : $0 }
        if (code ?? 0) == 0, message.isEmpty, (raw ?? "").isEmpty, detail == nil { return nil }
        self.init(code: code, message: message, rawMessage: raw, detail: detail)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["message": .string(message)]
        if let code { members["code"] = .int(code) }
        if let rawMessage { members["raw_message"] = .string(rawMessage) }
        if let detail { members["detail"] = detail }
        return .object(members)
    }

    /// One line: `message (code N): raw message`.
    public var summary: String {
        var text = message.isEmpty ? "error" : message
        if let code, code != 0 { text += " (code \(code))" }
        if let rawMessage, !rawMessage.isEmpty, rawMessage != message { text += ": \(rawMessage)" }
        return text
    }
}

/// Points frozen at submission and consumed on completion.
public struct LegnextUsage: Sendable, Hashable {
    public var type: String?
    public var frozen: Int?
    public var consume: Int?

    public init(type: String?, frozen: Int?, consume: Int?) {
        self.type = type
        self.frozen = frozen
        self.consume = consume
    }
}

/// What a finished job produced.
public struct LegnextOutput: Sendable, Hashable {
    /// The grid image (four images in one).
    public var imageURL: String?
    public var imageURLs: [String]
    public var videoURLs: [String]
    public var seed: String?
    /// Follow-up actions Legnext offers, e.g. `upscale: [0,1,2,3]`.
    public var availableActions: [String: JSONValue]
    /// Text results of describe and shorten (`description`, `prompts`, `promptEn`, `finalPrompt`).
    public var texts: [String]
    /// The whole output object as sent.
    public var raw: JSONValue?

    public static let empty = LegnextOutput(imageURL: nil, imageURLs: [], videoURLs: [], seed: nil, availableActions: [:], texts: [], raw: nil)
}

/// A Legnext Job object, read tolerantly: absent URLs as empty strings, unset times as
/// `0001-01-01T00:00:00Z`, `task_type` with `_` or `-`, and fields this client does not know
/// are kept in ``extra``.
public struct LegnextJob: Sendable, Hashable {
    public var jobId: String
    public var model: String?
    /// Normalised to the endpoint name (`remove-background`, never `remove_background`).
    public var taskType: String?
    public var status: LegnextJobStatus
    public var output: LegnextOutput
    public var createdAt: Date?
    public var startedAt: Date?
    public var endedAt: Date?
    public var usage: LegnextUsage?
    public var error: LegnextErrorInfo?
    public var logs: [String]
    /// The whole object as received.
    public var raw: JSONValue

    /// Top-level members not modelled above (`config`, `input`, `detail`, anything new); made
    /// when asked, since the daemon reads every answer and never these.
    public var extra: [String: JSONValue] {
        raw.objectValue?.filter { !Self.known.contains($0.key) } ?? [:]
    }

    static let known: Set<String> = ["job_id", "model", "task_type", "status", "output", "meta", "error", "logs"]

    /// Reads a Job object, or says precisely what is wrong with it.
    public init(json: JSONValue) throws(LegnextDecodingError) {
        guard let object = json.objectValue else { throw .notAnObject(json.typeName) }
        guard let id = object["job_id"]?.stringValue ?? object["job_id"]?.intValue.map(String.init), !id.isEmpty else {
            throw .missingField("job_id")
        }
        guard let statusText = object["status"]?.stringValue else { throw .missingField("status") }
        guard let status = LegnextJobStatus(rawValue: statusText.lowercased()) else { throw .unknownStatus(statusText) }
        jobId = id
        self.status = status
        model = Self.nonEmpty(object["model"]?.stringValue)
        taskType = Self.nonEmpty(object["task_type"]?.stringValue)?.replacingOccurrences(of: "_", with: "-")
        output = Self.output(object["output"])
        let meta = object["meta"]?.objectValue ?? [:]
        createdAt = Self.date(meta["created_at"])
        startedAt = Self.date(meta["started_at"])
        endedAt = Self.date(meta["ended_at"])
        if let usage = meta["usage"]?.objectValue {
            self.usage = LegnextUsage(
                type: usage["type"]?.stringValue,
                frozen: usage["frozen"]?.intValue,
                consume: usage["consume"]?.intValue
            )
        }
        error = LegnextErrorInfo(object["error"])
        logs = object["logs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        raw = json
    }

    /// Reads a Job object from a response body.
    public init(data: Data) throws(LegnextDecodingError) {
        let json: JSONValue
        do {
            json = try JSONValue(data: data)
        } catch {
            throw .notJSON(String(decoding: data.prefix(120), as: UTF8.self))
        }
        try self.init(json: json)
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    static func date(_ value: JSONValue?) -> Date? {
        guard let text = nonEmpty(value?.stringValue), !text.hasPrefix("0001-01-01") else { return nil }
        return Timestamp.parse(text)
    }

    static func output(_ value: JSONValue?) -> LegnextOutput {
        guard let object = value?.objectValue else { return .empty }
        func urls(_ key: String) -> [String] {
            object[key]?.arrayValue?.compactMap { nonEmpty($0.stringValue) } ?? []
        }
        var texts: [String] = []
        for key in ["description", "prompts", "promptEn", "finalPrompt", "prompt", "text"] {
            switch object[key] {
            case .string(let text) where !text.isEmpty: texts.append(text)
            case .array(let items): texts += items.compactMap { nonEmpty($0.stringValue) }
            default: break
            }
        }
        let seed: String? =
            switch object["seed"] {
            case .string(let text): nonEmpty(text)
            case .int(let number): String(number)
            case .double(let number): String(format: "%.0f", number)
            default: nil
            }
        return LegnextOutput(
            imageURL: nonEmpty(object["image_url"]?.stringValue),
            imageURLs: urls("image_urls"),
            videoURLs: urls("video_urls"),
            seed: seed,
            availableActions: object["available_actions"]?.objectValue ?? [:],
            texts: texts,
            raw: value
        )
    }
}

/// Why a Job object could not be read.
public enum LegnextDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    case notJSON(String)
    case notAnObject(String)
    case missingField(String)
    case unknownStatus(String)

    public var description: String {
        switch self {
        case .notJSON(let start): "the answer is not JSON (it starts \"\(start)\")"
        case .notAnObject(let type): "expected a Job object, got \(type)"
        case .missingField(let name): "the Job object has no \(name)"
        case .unknownStatus(let status): "the Job object has an unknown status \"\(status)\""
        }
    }
}

/// `GET /account/balance`'s `data`.
public struct LegnextBalance: Sendable, Hashable {
    public var accountId: String?
    public var balanceUSD: Double?
    public var availableCredits: Int?
    public var availablePoints: Int?
    public var raw: JSONValue

    public init(json: JSONValue) throws(LegnextDecodingError) {
        guard let envelope = json.objectValue else { throw .notAnObject(json.typeName) }
        let data = envelope["data"]?.objectValue ?? envelope
        accountId = data["account_id"]?.stringValue ?? data["account_id"]?.intValue.map(String.init)
        balanceUSD = data["balance_usd"]?.doubleValue
        availableCredits = data["available_credits"]?.intValue
        availablePoints = data["available_points"]?.intValue
        raw = json
    }
}

/// `GET /account/active_tasks` (openapi-complete.yaml; not on the docs site, so a server may
/// answer 404): the account's unfinished jobs and the plan's concurrency.
public struct LegnextActiveTasks: Sendable, Hashable {
    public struct Task: Sendable, Hashable {
        public var jobId: String
        public var taskType: String?
        public var status: String?
        public var createdAt: Date?
        /// 0–100.
        public var progress: Double?
        /// Seconds left, as Legnext estimates them.
        public var estimatedTime: Double?
    }

    public var totalActive: Int?
    /// Jobs the plan runs at once (the rest wait in `pending`).
    public var concurrentLimit: Int?
    public var tasks: [Task]

    public init(json: JSONValue) throws(LegnextDecodingError) {
        guard let envelope = json.objectValue else { throw .notAnObject(json.typeName) }
        let data = envelope["data"]?.objectValue ?? envelope
        totalActive = data["total_active"]?.intValue
        concurrentLimit = data["concurrent_limit"]?.intValue
        tasks = (data["tasks"]?.arrayValue ?? []).compactMap { item in
            guard let task = item.objectValue, let id = task["job_id"]?.stringValue, !id.isEmpty else { return nil }
            return Task(
                jobId: id,
                taskType: task["task_type"]?.stringValue,
                status: task["status"]?.stringValue,
                createdAt: task["created_at"]?.stringValue.flatMap(Timestamp.parse),
                progress: task["progress"]?.doubleValue,
                estimatedTime: task["estimated_time"]?.doubleValue
            )
        }
    }
}
