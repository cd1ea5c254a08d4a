/// A Legnext generation endpoint. The raw value is the path's last segment and the `kind`
/// column of the queue.
public enum LegnextKind: String, CaseIterable, Sendable, Codable {
    case diffusion, variation, upscale, reroll, blend, describe, shorten, pan, outpaint, inpaint, remix, edit
    case uploadPaint = "upload-paint"
    case retexture
    case removeBackground = "remove-background"
    case enhance
    case videoDiffusion = "video-diffusion"
    case extendVideo = "extend-video"
    case videoUpscale = "video-upscale"

    /// Path below the base URL, e.g. `/v1/diffusion`.
    public var path: String { "/v1/\(rawValue)" }

    /// The request field a job's prompt fills, if the endpoint takes text.
    public var promptField: String? {
        switch self {
        case .diffusion: "text"
        case .shorten, .videoDiffusion, .extendVideo: "prompt"
        case .variation, .pan, .outpaint, .inpaint, .remix, .edit, .uploadPaint, .retexture: "remixPrompt"
        case .upscale, .reroll, .blend, .describe, .removeBackground, .enhance, .videoUpscale: nil
        }
    }

    /// Whether the prompt is required.
    public var promptRequired: Bool {
        switch self {
        case .diffusion, .shorten, .videoDiffusion, .remix, .edit, .uploadPaint, .retexture: true
        default: false
        }
    }

    /// Acts on an earlier Legnext job (`jobId`).
    public var isFollowUp: Bool {
        switch self {
        case .variation, .upscale, .reroll, .pan, .outpaint, .inpaint, .remix, .edit, .enhance, .extendVideo, .videoUpscale: true
        default: false
        }
    }

    /// Points Legnext's docs say a job of this kind freezes, where they say (others are learned
    /// from the `usage` of accepted jobs).
    public var documentedPoints: Int? {
        switch self {
        case .diffusion: 80
        case .describe: 20
        case .retexture: 120
        case .videoUpscale: 480
        default: nil
        }
    }

    /// How long a job of this kind plausibly runs at the least, before anything is learned: the
    /// low end of the OpenAPI file's typical durations (diffusion 30–90 s, variation 60–90 s,
    /// upscale and the editors 90–120 s, describe 30–60 s, shorten 20–40 s, video 3–5 min,
    /// video-upscale 4–6 min), halved, since some real jobs end below the typical range.
    public var shortestPlausibleSeconds: Double {
        let typicalLow: Double =
            switch self {
            case .diffusion, .retexture, .removeBackground, .enhance, .uploadPaint, .describe: 30
            case .variation, .reroll, .blend: 60
            case .upscale, .pan, .outpaint, .inpaint, .remix, .edit: 90
            case .shorten: 20
            case .videoDiffusion, .extendVideo: 180
            case .videoUpscale: 240
            }
        return typicalLow / 2
    }

    /// May act on an earlier job: the follow-ups, and a video made from an earlier image job.
    public var takesParent: Bool { isFollowUp || self == .videoDiffusion }

    /// What a job of this kind makes.
    public enum Product: String, Sendable, CustomStringConvertible {
        case images, videos, text
        public var description: String { rawValue }
        var one: String { self == .images ? "an image" : self == .videos ? "a video" : "text" }
    }

    public var product: Product {
        switch self {
        case .describe, .shorten: .text
        case .videoDiffusion, .extendVideo, .videoUpscale: .videos
        default: .images
        }
    }

    /// What a follow-up acts on: the parent's videos for the video follow-ups, else its images.
    public var actsOn: Product? {
        switch self {
        case .extendVideo, .videoUpscale: .videos
        default: takesParent ? .images : nil
        }
    }

    /// Legnext's limit on a chain of `extend-video` jobs.
    public static let maxVideoExtensions = 4

    /// Why a job of this kind cannot act on a parent of `parentKind`, or nil when it can:
    /// a video follow-up needs a video, an image follow-up an image; `enhance` needs a draft-mode
    /// job (a diffusion whose prompt has `--draft`; of other parents only Legnext knows);
    /// `extensions` counts the `extend-video` jobs in a row the parent ends.
    public func parentProblem(parentKind: String, parentPrompt: String?, extensions: Int) -> String? {
        guard let parent = LegnextKind(rawValue: parentKind), let wanted = actsOn else { return nil }
        if parent.product != wanted {
            return "\(rawValue) acts on \(wanted.one), and a \(parentKind) job makes \(parent.product): choose a parent that made \(wanted)"
        }
        if self == .enhance, parent == .diffusion, !(parentPrompt ?? "").split(separator: " ").contains("--draft") {
            return "enhance acts on a draft-mode job: the parent's prompt has no --draft (enqueue the diffusion with --draft, then enhance it)"
        }
        if self == .extendVideo, extensions >= Self.maxVideoExtensions {
            return "this video was already extended \(extensions) times; Legnext extends a video at most \(Self.maxVideoExtensions) times"
        }
        return nil
    }

    /// `kind` names accepted from users, for messages.
    public static let namesList = allCases.map(\.rawValue).joined(separator: ", ")
}

extension LegnextKind {
    /// The body fields the endpoint accepts (besides `callback`).
    public var fields: [String] {
        switch self {
        case .diffusion: ["text"]
        case .variation: ["jobId", "imageNo", "type", "remixPrompt"]
        case .upscale: ["jobId", "imageNo", "type"]
        case .reroll: ["jobId"]
        case .blend: ["imgUrls", "aspect_ratio"]
        case .describe, .removeBackground: ["imgUrl"]
        case .shorten: ["prompt"]
        case .pan: ["jobId", "imageNo", "direction", "scale", "remixPrompt"]
        case .outpaint: ["jobId", "imageNo", "scale", "remixPrompt"]
        case .inpaint: ["jobId", "imageNo", "mask", "remixPrompt"]
        case .remix: ["jobId", "imageNo", "remixPrompt", "mode"]
        case .edit: ["jobId", "imageNo", "canvas", "imgPos", "remixPrompt", "mask"]
        case .uploadPaint: ["imgUrl", "canvas", "imgPos", "remixPrompt", "mask"]
        case .retexture: ["imgUrl", "remixPrompt"]
        case .enhance: ["jobId", "imageNo"]
        case .videoDiffusion: ["prompt", "videoType", "jobId", "imageNo"]
        case .extendVideo: ["jobId", "videoNo", "prompt"]
        case .videoUpscale: ["jobId", "videoNo"]
        }
    }

    var bodyType: any LegnextRequestBody.Type {
        switch self {
        case .diffusion: DiffusionRequest.self
        case .variation: VariationRequest.self
        case .upscale: UpscaleRequest.self
        case .reroll: RerollRequest.self
        case .blend: BlendRequest.self
        case .describe: DescribeRequest.self
        case .shorten: ShortenRequest.self
        case .pan: PanRequest.self
        case .outpaint: OutpaintRequest.self
        case .inpaint: InpaintRequest.self
        case .remix: RemixRequest.self
        case .edit: EditRequest.self
        case .uploadPaint: UploadPaintRequest.self
        case .retexture: RetextureRequest.self
        case .removeBackground: RemoveBackgroundRequest.self
        case .enhance: EnhanceRequest.self
        case .videoDiffusion: VideoDiffusionRequest.self
        case .extendVideo: ExtendVideoRequest.self
        case .videoUpscale: VideoUpscaleRequest.self
        }
    }
}
