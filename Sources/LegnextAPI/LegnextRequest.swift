import Foundation
import QueueSupport

/// A checked request to one generation endpoint, ready to send.
public struct LegnextRequest: Sendable {
    public let body: any LegnextRequestBody
    public var kind: LegnextKind { type(of: body).kind }

    /// Wraps `body` after checking it against the endpoint's documented rules.
    public init(_ body: some LegnextRequestBody) throws(RequestValidationError) {
        try body.validate()
        self.body = body
    }

    /// The same request with Legnext told to POST changes to `url`.
    public func withCallback(_ url: String?) -> LegnextRequest {
        var body = self.body
        body.callback = url
        return LegnextRequest(unchecked: body)
    }

    init(unchecked body: any LegnextRequestBody) { self.body = body }

    /// Builds the request of a queued job: `kind`, its `prompt` (which fills the endpoint's text
    /// field), its `params` object, and for follow-ups the Legnext id of the parent job.
    /// Every mistake is reported in words a person can act on.
    public static func build(
        kind kindName: String,
        prompt: String?,
        params: [String: JSONValue],
        parentRemoteJobId: String? = nil
    ) throws(RequestValidationError) -> LegnextRequest {
        guard let kind = LegnextKind(rawValue: kindName) else {
            throw RequestValidationError("unknown kind \"\(kindName)\": use one of \(LegnextKind.namesList)")
        }
        if kind == .diffusion, params.isEmpty, let prompt {
            return try LegnextRequest(DiffusionRequest(text: prompt))  // the common case, without a JSON round trip
        }
        var fields = params
        if fields["callback"] != nil {
            throw RequestValidationError("params.callback is set by legnext-queue itself (see --callback-url); remove it")
        }
        let allowed = Set(kind.fields)
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            let expected = kind.fields.isEmpty ? "none" : kind.fields.joined(separator: ", ")
            throw RequestValidationError("\(kind.rawValue) has no parameter \"\(unknown)\" (it takes: \(expected))")
        }
        // A video from an earlier image job: its jobId and imageNo say what to animate, and the
        // prompt is optional.
        let animatesImage = kind == .videoDiffusion && (parentRemoteJobId != nil || fields["jobId"] != nil)
        if let field = kind.promptField {
            if let prompt {
                if let given = fields[field], given != .string(prompt) {
                    throw RequestValidationError("give the text either as the prompt or as params.\(field), not both")
                }
                fields[field] = .string(prompt)
            } else if kind.promptRequired, fields[field] == nil, !animatesImage {
                throw RequestValidationError("\(kind.rawValue) needs a prompt")
            }
        } else if let prompt, !prompt.isEmpty {
            throw RequestValidationError("\(kind.rawValue) takes no prompt; put its settings in params")
        }
        if kind.isFollowUp || animatesImage {
            if let parentRemoteJobId {
                if let given = fields["jobId"], given != .string(parentRemoteJobId) {
                    throw RequestValidationError("give either a parent job or params.jobId, not both")
                }
                fields["jobId"] = .string(parentRemoteJobId)
            } else if let given = fields["jobId"] {
                if let text = given.stringValue { try Rule.legnextJobId(text) }
            } else {
                throw RequestValidationError("\(kind.rawValue) acts on an earlier job: give a parent job (--parent) or params.jobId")
            }
        }
        if kind == .inpaint, let mask = fields["mask"], mask.objectValue == nil {
            throw RequestValidationError(
                #"params.mask must be {"areas": [{"width": …, "height": …, "points": [x1, y1, …]}]} or {"url": "https://…"}: Legnext takes no image file or base64 here"#
            )
        }
        return try decode(kind.bodyType, from: fields)
    }

    private static func decode<B: LegnextRequestBody>(
        _ type: B.Type,
        from fields: [String: JSONValue]
    )
        throws(RequestValidationError) -> LegnextRequest
    {
        let body: B
        do {
            body = try JSONDecoder().decode(B.self, from: JSONEncoder().encode(JSONValue.object(fields)))
        } catch let error as DecodingError {
            throw RequestValidationError(error.readableDescription)
        } catch {
            throw RequestValidationError("invalid parameters: \(error)")
        }
        return try LegnextRequest(body)
    }
}

extension DecodingError {
    /// One line a person can act on, e.g. `imageNo: expected a number`.
    public var readableDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "\(parent.isEmpty ? "" : parent + ".")\(key.stringValue) is required"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.describe(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.describe(type)), got null"
        case .dataCorrupted(let context):
            let where_ = path(context.codingPath)
            return (where_.isEmpty ? "" : where_ + ": ") + context.debugDescription
        @unknown default:
            return "\(self)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [String].Type: "an array of strings"
        default: "an object like the API's \(type)"
        }
    }
}
