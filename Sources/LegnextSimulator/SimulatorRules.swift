import Foundation
import QueueSupport

/// The simulator's own reading of the documented request rules, written apart from the
/// client's so that each checks the other.
enum SimulatorRules {
    enum Field {
        case text(required: Bool)
        case int(ClosedRange<Int>, required: Bool)
        case number(ClosedRange<Double>)
        case jobId
        /// An http(s) URL of at most `maxLength` characters (the OpenAPI file's bound).
        case url(maxLength: Int)
        /// describe's image: `imgUrl`, or `imageLink` / `imageBase64` as some captures of the docs show.
        case describedImage
        case urls(ClosedRange<Int>)
        case choice([String])
        case object([String])
        case present
        /// An inpaint mask as documented: `{"areas": [{width, height (500–4096), points}]}` or `{"url"}`.
        case mask
        case optionalAny
    }

    static let kinds: [String: [String: Field]] = [
        "diffusion": ["text": .text(required: true)],
        "variation": [
            "jobId": .jobId, "imageNo": .int(0...3, required: true), "type": .int(0...1, required: true), "remixPrompt": .text(required: false),
        ],
        "upscale": ["jobId": .jobId, "imageNo": .int(0...3, required: true), "type": .int(0...1, required: true)],
        "reroll": ["jobId": .jobId],
        "blend": ["imgUrls": .urls(2...5), "aspect_ratio": .choice(["2:3", "1:1", "3:2"])],
        "describe": ["imgUrl": .describedImage],
        "shorten": ["prompt": .text(required: true)],
        "pan": [
            "jobId": .jobId, "imageNo": .int(0...3, required: true), "direction": .int(0...3, required: true),
            "scale": .number(1.1...3.0), "remixPrompt": .text(required: false),
        ],
        "outpaint": ["jobId": .jobId, "imageNo": .int(0...3, required: true), "scale": .number(1.1...2.0), "remixPrompt": .text(required: false)],
        "inpaint": ["jobId": .jobId, "imageNo": .int(0...3, required: true), "mask": .mask, "remixPrompt": .text(required: false)],
        "remix": [
            "jobId": .jobId, "imageNo": .int(0...3, required: true), "remixPrompt": .text(required: true), "mode": .int(0...1, required: false),
        ],
        "edit": [
            "jobId": .jobId, "imageNo": .int(0...3, required: true), "canvas": .object(["width", "height"]),
            "imgPos": .object(["width", "height", "x", "y"]), "remixPrompt": .text(required: true), "mask": .optionalAny,
        ],
        "upload-paint": [
            "imgUrl": .url(maxLength: 1024), "canvas": .object(["width", "height"]), "imgPos": .object(["width", "height", "x", "y"]),
            "remixPrompt": .text(required: true), "mask": .present,
        ],
        "retexture": ["imgUrl": .url(maxLength: 1024), "remixPrompt": .text(required: true)],
        "remove-background": ["imgUrl": .url(maxLength: 1024)],
        "enhance": ["jobId": .jobId, "imageNo": .int(0...3, required: true)],
        "video-diffusion": ["prompt": .text(required: true), "videoType": .int(0...1, required: false)],
        "extend-video": ["jobId": .jobId, "videoNo": .int(0...3, required: true), "prompt": .text(required: false)],
        "video-upscale": ["jobId": .jobId, "videoNo": .int(0...3, required: true)],
    ]

    /// A rule broken: HTTP status (400 malformed, 422 out of range) and message.
    struct Violation: Error {
        var status: Int
        var message: String
    }

    /// Checks a body against its kind's rules; returns the parent job id for follow-ups.
    /// `/v1/video-diffusion` given `jobId`: a video of image `imageNo` of that image job.
    static let videoFromImage: [String: Field] = [
        "jobId": .jobId, "imageNo": .int(0...3, required: true), "prompt": .text(required: false), "videoType": .int(0...1, required: false),
    ]

    static func check(kind: String, body: [String: JSONValue]) throws(Violation) -> String? {
        guard var rules = kinds[kind] else { throw Violation(status: 404, message: "unknown endpoint") }
        if kind == "video-diffusion", let jobId = body["jobId"], jobId != .null { rules = videoFromImage }
        var parent: String?
        for (name, rule) in rules {
            // `null` is absent: Legnext's own SDK sends `"remixPrompt": null` for an optional
            // field it was not given, and Legnext accepts its SDK's requests.
            let value = body[name].flatMap { $0 == .null ? nil : $0 }
            switch rule {
            case .text(let required):
                guard let value else {
                    if required { throw Violation(status: 400, message: "\(name) is required") }
                    continue
                }
                guard let text = value.stringValue else { throw Violation(status: 400, message: "\(name) must be a string") }
                if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw Violation(status: 422, message: "\(name) must not be empty") }
                if text.count > 8192 { throw Violation(status: 422, message: "\(name) must be at most 8192 characters") }
            case .int(let range, let required):
                guard let value else {
                    if required { throw Violation(status: 400, message: "\(name) is required") }
                    continue
                }
                guard let int = value.intValue else {
                    throw Violation(status: 400, message: "\(name) must be an integer")
                }
                if !range.contains(int) {
                    throw Violation(status: 422, message: "\(name) must be between \(range.lowerBound) and \(range.upperBound)")
                }
            case .number(let range):
                guard let number = value?.doubleValue else { throw Violation(status: 400, message: "\(name) is required and must be a number") }
                if !range.contains(number) {
                    throw Violation(status: 422, message: "\(name) must be between \(range.lowerBound) and \(range.upperBound)")
                }
            case .jobId:
                guard let id = value?.stringValue, !id.isEmpty else { throw Violation(status: 400, message: "jobId is required") }
                parent = id
            case .url(let maxLength):
                guard let url = value?.stringValue, url.hasPrefix("http") else { throw Violation(status: 400, message: "\(name) must be a URL") }
                if url.utf8.count > maxLength {
                    throw Violation(status: 422, message: "\(name) must be at most \(maxLength) characters")
                }
            case .describedImage:
                if let url = value?.stringValue, url.hasPrefix("http") { continue }
                if let link = body["imageLink"]?.stringValue, link.hasPrefix("http") { continue }
                if let base64 = body["imageBase64"]?.stringValue, !base64.isEmpty, Data(base64Encoded: base64) != nil { continue }
                throw Violation(status: 400, message: "imgUrl (or imageLink, or imageBase64) is required")
            case .urls(let count):
                guard case .array(let urls) = value, urls.allSatisfy({ $0.stringValue?.hasPrefix("http") == true }) else {
                    throw Violation(status: 400, message: "\(name) must be an array of URLs")
                }
                if !count.contains(urls.count) {
                    throw Violation(status: 422, message: "\(name) must hold \(count.lowerBound) to \(count.upperBound) URLs")
                }
            case .choice(let options):
                guard let text = value?.stringValue, options.contains(text) else {
                    throw Violation(status: 422, message: "\(name) must be one of \(options.joined(separator: ", "))")
                }
            case .object(let members):
                guard case .object(let object) = value, members.allSatisfy({ object[$0]?.doubleValue != nil }) else {
                    throw Violation(status: 400, message: "\(name) must be an object with \(members.joined(separator: ", "))")
                }
            case .present:
                if value == nil || value == .null { throw Violation(status: 400, message: "\(name) is required") }
            case .optionalAny:
                break
            case .mask:
                guard case .object(let mask) = value else {
                    throw Violation(status: 400, message: "mask is required: {\"areas\": [...]} or {\"url\": ...}")
                }
                if case .string(let url)? = mask["url"], url.hasPrefix("http") { continue }
                guard case .array(let areas)? = mask["areas"], !areas.isEmpty else {
                    throw Violation(status: 400, message: "mask must hold areas or a url")
                }
                for area in areas {
                    guard case .object(let area) = area, let width = area["width"]?.doubleValue, let height = area["height"]?.doubleValue,
                        case .array(let points)? = area["points"], points.allSatisfy({ $0.doubleValue != nil })
                    else { throw Violation(status: 400, message: "each mask area needs width, height and points") }
                    if !(500...4096).contains(width) || !(500...4096).contains(height) {
                        throw Violation(status: 422, message: "mask area width and height must be between 500 and 4096")
                    }
                }
            }
        }
        return parent
    }

    /// What a follow-up needs of its parent: a video for the video follow-ups, an image for the
    /// others, a draft-mode job for enhance, fewer than 4 extensions before an extend-video.
    static func checkParent(kind: String, parent: SimulatorJob) throws(Violation) {
        let parentMakes = parent.kind.contains("video") ? "video" : ["describe", "shorten"].contains(parent.kind) ? "text" : "image"
        let wanted = ["extend-video", "video-upscale"].contains(kind) ? "video" : "image"
        if parentMakes != wanted {
            throw Violation(
                status: 400,
                message: "\(kind) needs a job that made \(wanted == "video" ? "a video" : "images"); \(parent.kind) job \(parent.id) did not"
            )
        }
        if kind == "enhance", !parent.draft {
            throw Violation(status: 400, message: "enhance needs a draft-mode job (--draft); job \(parent.id) is not one")
        }
        if kind == "extend-video", parent.extensions >= 4 {
            throw Violation(status: 400, message: "a video can be extended at most 4 times")
        }
    }

    /// The text fields a test can put simulator hooks into.
    static func text(of body: [String: JSONValue]) -> String {
        ["text", "prompt", "remixPrompt"].compactMap { body[$0]?.stringValue }.joined(separator: " ")
    }
}

/// Test hooks a prompt can carry, so a test can ask for an outcome without relying on chance:
/// `sim:fail` (the job fails), `sim:reject=403` (the POST is refused with that status),
/// `sim:duration=1.5` (seconds), `sim:drop` (the job is created, the POST's connection closed
/// without an answer: a submission whose outcome the client cannot know), `sim:drop-after=2` (the
/// same, the connection held that many seconds first, while the job runs and calls back), `sim:stall-download`
/// (the job's files answer with headers, then send nothing: a stalled CDN), `sim:get-errors=N`
/// (the job's first N `GET /v1/job/{id}` are answered 500), `sim:post-errors=N` (the first N POSTs
/// of this body are answered 500 and make nothing).
struct SimulatorHooks {
    var fail = false
    var reject: Int?
    var duration: Double?
    var drop = false
    /// Seconds the dropped POST's connection is held first.
    var dropAfter: Double?
    var stallDownload = false
    var getErrors = 0
    var postErrors = 0

    init(_ text: String) {
        guard text.contains("sim:") else { return }
        for word in text.split(separator: " ") where word.hasPrefix("sim:") {
            let parts = word.dropFirst(4).split(separator: "=", maxSplits: 1).map(String.init)
            switch parts.first {
            case "fail": fail = true
            case "reject": reject = parts.count > 1 ? Int(parts[1]) : 400
            case "duration": duration = parts.count > 1 ? Double(parts[1]) : nil
            case "drop": drop = true
            case "drop-after":
                drop = true
                dropAfter = parts.count > 1 ? Double(parts[1]) : nil
            case "stall-download": stallDownload = true
            case "get-errors": getErrors = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
            case "post-errors": postErrors = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
            default: break
            }
        }
    }
}
