import Foundation

/// One job the simulator holds, with its whole future drawn at creation.
struct SimulatorJob: Sendable {
    let id: String
    let kind: String
    /// The request body as received (JSON object text or the multipart fields as JSON).
    let input: [String: AnyJSON]
    let cost: Int
    let callback: String?
    let createdAt: Double
    let duration: Double
    let willFail: Bool
    let seed: UInt32
    /// When it starts processing; nil while it waits for a concurrency slot.
    var startAt: Double?
    var endAt: Double? { startAt.map { $0 + duration } }
    var finished = false
    var announcedProcessing = false

    func status(at now: Double) -> String {
        if let endAt, endAt <= now { return willFail ? "failed" : "completed" }
        if let startAt, startAt <= now { return "processing" }
        return "pending"
    }
}

/// The simulator's own JSON value, for reading bodies and echoing inputs back.
indirect enum AnyJSON: Sendable, Codable, Hashable {
    case null, bool(Bool), number(Double), string(String), array([AnyJSON]), object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([AnyJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { try container.encode(Int(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }
}

/// The Job object exactly as Legnext's documentation shows it.
struct JobObject: Encodable {
    struct Config: Encodable {
        struct Webhook: Encodable {
            var endpoint: String
            var secret: String
        }
        var service_mode = "public"
        var webhook_config: Webhook
    }
    struct Output: Encodable {
        var image_url: String
        var image_urls: [String]?
        var video_urls: [String]
        var seed: String
        var available_actions: [String: [Int]]
        var description: String?
        var prompts: [String]?
    }
    struct Meta: Encodable {
        struct Usage: Encodable {
            var type = "point"
            var frozen: Int
            var consume: Int
        }
        var created_at: String
        var started_at: String
        var ended_at: String
        var usage: Usage
    }
    struct ErrorObject: Encodable {
        var code: Int
        var message: String
        var raw_message: String
        var detail: String?
    }
    var job_id: String
    var model = "midjourney"
    var task_type: String
    var status: String
    var config: Config
    var input: [String: AnyJSON]
    var detail: String?
    var logs: [String]
    var output: Output
    var meta: Meta
    var error: ErrorObject
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
