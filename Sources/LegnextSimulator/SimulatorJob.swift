import Foundation
import QueueSupport

/// One job the simulator holds, with its whole future drawn at creation.
struct SimulatorJob: Sendable {
    let id: String
    let kind: String
    /// The number of the account whose key made it.
    let account: Int
    /// The request body as received.
    let input: [String: JSONValue]
    let cost: Int
    let callback: String?
    let createdAt: Double
    let duration: Double
    let willFail: Bool
    let seed: UInt32
    /// Made in draft mode (`--draft` in its text, or a follow-up of a draft job): what `enhance` needs.
    var draft = false
    /// The `extend-video` jobs in a row ending at this one.
    var extensions = 0
    /// GETs still to answer 500 (the `sim:get-errors=N` hook).
    var getErrorsLeft = 0
    /// When it starts processing; nil while it waits for a concurrency slot.
    var startAt: Double?
    var endAt: Double? { startAt.map { $0 + duration } }

    /// The `pending` moment between taking a slot and `processing`.
    static func startUp(_ duration: Double) -> Double { min(duration * 0.05, 0.5) }
    var finished = false
    var announcedProcessing = false

    func status(at now: Double) -> String {
        if let endAt, endAt <= now { return willFail ? "failed" : "completed" }
        if let startAt, startAt <= now { return "processing" }
        return "pending"
    }
}

/// The Job object exactly as Legnext's documentation shows it.
struct JobObject: JSONWritable {
    struct Output {
        var image_url: String
        var image_urls: [String]?
        var video_urls: [String]
        var seed: String
        var available_actions: [String: JSONValue]
        var description: String?
        var prompts: [String]?
    }
    struct Meta {
        var created_at: String
        var started_at: String
        var ended_at: String
        var frozen: Int
        var consume: Int
    }
    struct ErrorObject {
        var code: Int
        var message: String
        var raw_message: String
    }
    var job_id: String
    var task_type: String
    var status: String
    var webhook_endpoint: String
    var input: [String: JSONValue]
    var logs: [String]
    var output: Output
    var meta: Meta
    var error: ErrorObject

    func write(to json: inout JSONText) {
        json.raw("{")
        json.key("job_id", first: true)
        json.string(job_id)
        json.raw(#","model":"midjourney","task_type":"#)
        json.string(task_type)
        json.key("status")
        json.string(status)
        json.raw(#","config":{"service_mode":"public","webhook_config":{"endpoint":"#)
        json.string(webhook_endpoint)
        json.raw(#","secret":""}},"input":"#)
        json.object(input)
        json.key("logs")
        json.strings(logs)
        json.raw(#","output":{"image_url":"#)
        json.string(output.image_url)
        if let urls = output.image_urls {
            json.key("image_urls")
            json.strings(urls)
        }
        json.key("video_urls")
        json.strings(output.video_urls)
        json.key("seed")
        json.string(output.seed)
        json.key("available_actions")
        json.object(output.available_actions)
        if let description = output.description {
            json.key("description")
            json.string(description)
        }
        if let prompts = output.prompts {
            json.key("prompts")
            json.strings(prompts)
        }
        json.raw(#"},"meta":{"created_at":"#)
        json.string(meta.created_at)
        json.key("started_at")
        json.string(meta.started_at)
        json.key("ended_at")
        json.string(meta.ended_at)
        json.raw(#","usage":{"type":"point","frozen":"#)
        json.int(meta.frozen)
        json.raw(#","consume":"#)
        json.int(meta.consume)
        json.raw(#"}},"error":{"code":"#)
        json.int(error.code)
        json.key("message")
        json.string(error.message)
        json.key("raw_message")
        json.string(error.raw_message)
        json.raw("}}")
    }
}

/// A scheduled change of one job. Ordered by time, starts before ends, then by id, so equal
/// times resolve the same way on every run.
struct TimelineEvent: Comparable, Sendable {
    enum Change: Int, Sendable { case start = 0, end = 1 }
    let at: Double
    let change: Change
    let id: String

    static func < (a: Self, b: Self) -> Bool {
        (a.at, a.change.rawValue, a.id) < (b.at, b.change.rawValue, b.id)
    }
}
