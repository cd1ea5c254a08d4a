import Foundation
import QueueSupport

/// The body of a POST to one Legnext generation endpoint. Each endpoint has its own type,
/// whose `validate()` checks the documented ranges before anything is sent.
public protocol LegnextRequestBody: Codable, Sendable, Hashable {
    static var kind: LegnextKind { get }
    /// Where Legnext should POST the job when it changes.
    var callback: String? { get set }
    func validate() throws(RequestValidationError)
}

/// Canvas size for edit and upload-paint.
public struct Canvas: Codable, Sendable, Hashable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// Where the image sits on the canvas, for edit and upload-paint.
public struct ImagePosition: Codable, Sendable, Hashable {
    public var width: Int
    public var height: Int
    public var x: Int
    public var y: Int
    public init(width: Int, height: Int, x: Int, y: Int) {
        self.width = width
        self.height = height
        self.x = x
        self.y = y
    }
}

public struct DiffusionRequest: LegnextRequestBody {
    public static let kind = LegnextKind.diffusion
    public var text: String
    public var callback: String?
    public init(text: String, callback: String? = nil) {
        self.text = text
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) { try Rule.text(text, "text", required: true) }
}

public struct VariationRequest: LegnextRequestBody {
    public static let kind = LegnextKind.variation
    public var jobId: String
    public var imageNo: Int
    /// 0 subtle, 1 strong.
    public var type: Int
    public var remixPrompt: String?
    public var callback: String?
    public init(jobId: String, imageNo: Int, type: Int, remixPrompt: String? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.type = type
        self.remixPrompt = remixPrompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try Rule.range(type, "type", 0...1)
        try Rule.text(remixPrompt, "remixPrompt", required: false)
    }
}

public struct UpscaleRequest: LegnextRequestBody {
    public static let kind = LegnextKind.upscale
    public var jobId: String
    public var imageNo: Int
    /// 0 subtle, 1 creative.
    public var type: Int
    public var callback: String?
    public init(jobId: String, imageNo: Int, type: Int, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.type = type
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try Rule.range(type, "type", 0...1)
    }
}

public struct RerollRequest: LegnextRequestBody {
    public static let kind = LegnextKind.reroll
    public var jobId: String
    public var callback: String?
    public init(jobId: String, callback: String? = nil) {
        self.jobId = jobId
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) { try Rule.jobId(jobId) }
}

public struct BlendRequest: LegnextRequestBody {
    public static let kind = LegnextKind.blend
    public static let aspectRatios = ["2:3", "1:1", "3:2"]
    public var imgUrls: [String]
    public var aspectRatio: String
    public var callback: String?
    enum CodingKeys: String, CodingKey {
        case imgUrls
        case aspectRatio = "aspect_ratio"
        case callback
    }
    public init(imgUrls: [String], aspectRatio: String, callback: String? = nil) {
        self.imgUrls = imgUrls
        self.aspectRatio = aspectRatio
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.check((2...5).contains(imgUrls.count), "imgUrls must hold 2–5 URLs (got \(imgUrls.count))")
        for url in imgUrls { try Rule.url(url, "imgUrls") }
        try Rule.check(Self.aspectRatios.contains(aspectRatio), "aspect_ratio must be one of 2:3, 1:1, 3:2 (got \(aspectRatio))")
    }
}

public struct DescribeRequest: LegnextRequestBody {
    public static let kind = LegnextKind.describe
    public var imgUrl: String
    public var callback: String?
    public init(imgUrl: String, callback: String? = nil) {
        self.imgUrl = imgUrl
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) { try Rule.url(imgUrl, "imgUrl") }
}

public struct ShortenRequest: LegnextRequestBody {
    public static let kind = LegnextKind.shorten
    public var prompt: String
    public var callback: String?
    public init(prompt: String, callback: String? = nil) {
        self.prompt = prompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) { try Rule.text(prompt, "prompt", required: true) }
}

/// Which way a pan extends the image, numbered as Legnext's docs and OpenAPI files number it.
/// (The Python SDK's enum numbers them 0 up, 1 down, 2 left, 3 right; the docs win: a user
/// asking for "up" must not pay for "down".)
public enum PanDirection: Int, CaseIterable, Sendable {
    case down = 0
    case right = 1
    case up = 2
    case left = 3

    public init?(name: String) {
        guard let direction = Self.allCases.first(where: { "\($0)" == name.lowercased() }) else { return nil }
        self = direction
    }

    public static let names = allCases.map { "\($0)" }.joined(separator: ", ")
}

public struct PanRequest: LegnextRequestBody {
    public static let kind = LegnextKind.pan
    public var jobId: String
    public var imageNo: Int
    /// Legnext's numbering (docs site, both OpenAPI files): see ``PanDirection``.
    public var direction: Int
    public var scale: Double
    public var remixPrompt: String?
    public var callback: String?
    public init(jobId: String, imageNo: Int, direction: Int, scale: Double, remixPrompt: String? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.direction = direction
        self.scale = scale
        self.remixPrompt = remixPrompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try Rule.range(direction, "direction", 0...3)
        try Rule.range(scale, "scale", 1.1...3.0)
        try Rule.text(remixPrompt, "remixPrompt", required: false)
    }
}

public struct OutpaintRequest: LegnextRequestBody {
    public static let kind = LegnextKind.outpaint
    public var jobId: String
    public var imageNo: Int
    public var scale: Double
    public var remixPrompt: String?
    public var callback: String?
    public init(jobId: String, imageNo: Int, scale: Double, remixPrompt: String? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.scale = scale
        self.remixPrompt = remixPrompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try Rule.range(scale, "scale", 1.1...2.0)
        try Rule.text(remixPrompt, "remixPrompt", required: false)
    }
}

/// Where an inpaint repaints, as Legnext's docs and OpenAPI files give it: polygons, or an
/// image at a URL. (Only the Python SDK sends a multipart form with a file; the docs win.)
public struct InpaintMask: Codable, Sendable, Hashable {
    public struct Area: Codable, Sendable, Hashable {
        public var width: Int
        public var height: Int
        /// The polygon's corners as x1, y1, x2, y2, … in pixels of the `width` × `height` canvas.
        public var points: [Int]
        public init(width: Int, height: Int, points: [Int]) {
            self.width = width
            self.height = height
            self.points = points
        }
    }
    public var areas: [Area]?
    public var url: String?
    public init(areas: [Area]) { self.areas = areas }
    public init(url: String) { self.url = url }

    func validate() throws(RequestValidationError) {
        switch (areas, url) {
        case (let areas?, nil):
            try Rule.check(!areas.isEmpty, "mask.areas must hold at least one area")
            for (index, area) in areas.enumerated() {
                let name = "mask.areas[\(index)]"
                try Rule.range(area.width, "\(name).width", 500...4096)
                try Rule.range(area.height, "\(name).height", 500...4096)
                try Rule.check(
                    area.points.count >= 6 && area.points.count.isMultiple(of: 2),
                    "\(name).points must be x, y pairs of at least three corners"
                )
                for (offset, value) in area.points.enumerated() {
                    let limit = offset.isMultiple(of: 2) ? area.width : area.height
                    try Rule.check((0...limit).contains(value), "\(name).points[\(offset)] must be within the \(area.width)×\(area.height) area")
                }
            }
        case (nil, let url?):
            try Rule.url(url, "mask.url")
        default:
            throw RequestValidationError(#"mask must be {"areas": [{"width", "height", "points"}]} or {"url": "https://…"}"#)
        }
    }
}

public struct InpaintRequest: LegnextRequestBody {
    public static let kind = LegnextKind.inpaint
    public var jobId: String
    public var imageNo: Int
    public var mask: InpaintMask
    public var remixPrompt: String?
    public var callback: String?
    public init(jobId: String, imageNo: Int, mask: InpaintMask, remixPrompt: String? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.mask = mask
        self.remixPrompt = remixPrompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try mask.validate()
        try Rule.text(remixPrompt, "remixPrompt", required: false)
    }
}

public struct RemixRequest: LegnextRequestBody {
    public static let kind = LegnextKind.remix
    public var jobId: String
    public var imageNo: Int
    public var remixPrompt: String
    public var mode: Int?
    public var callback: String?
    public init(jobId: String, imageNo: Int, remixPrompt: String, mode: Int? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.remixPrompt = remixPrompt
        self.mode = mode
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try Rule.text(remixPrompt, "remixPrompt", required: true)
        try Rule.range(mode, "mode", 0...1, required: false)
    }
}

public struct EditRequest: LegnextRequestBody {
    public static let kind = LegnextKind.edit
    public var jobId: String
    public var imageNo: Int
    public var canvas: Canvas
    public var imgPos: ImagePosition
    public var remixPrompt: String
    public var mask: JSONValue?
    public var callback: String?
    public init(
        jobId: String,
        imageNo: Int,
        canvas: Canvas,
        imgPos: ImagePosition,
        remixPrompt: String,
        mask: JSONValue? = nil,
        callback: String? = nil
    ) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.canvas = canvas
        self.imgPos = imgPos
        self.remixPrompt = remixPrompt
        self.mask = mask
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
        try canvasRules(canvas, imgPos)
        try Rule.text(remixPrompt, "remixPrompt", required: true)
    }
}

public struct UploadPaintRequest: LegnextRequestBody {
    public static let kind = LegnextKind.uploadPaint
    public var imgUrl: String
    public var canvas: Canvas
    public var imgPos: ImagePosition
    public var remixPrompt: String
    public var mask: JSONValue
    public var callback: String?
    public init(imgUrl: String, canvas: Canvas, imgPos: ImagePosition, remixPrompt: String, mask: JSONValue, callback: String? = nil) {
        self.imgUrl = imgUrl
        self.canvas = canvas
        self.imgPos = imgPos
        self.remixPrompt = remixPrompt
        self.mask = mask
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.url(imgUrl, "imgUrl", maxLength: 1024)
        try canvasRules(canvas, imgPos)
        try Rule.text(remixPrompt, "remixPrompt", required: true)
        try Rule.check(!mask.isNull, "mask is required")
    }
}

public struct RetextureRequest: LegnextRequestBody {
    public static let kind = LegnextKind.retexture
    public var imgUrl: String
    public var remixPrompt: String
    public var callback: String?
    public init(imgUrl: String, remixPrompt: String, callback: String? = nil) {
        self.imgUrl = imgUrl
        self.remixPrompt = remixPrompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.url(imgUrl, "imgUrl", maxLength: 1024)
        try Rule.text(remixPrompt, "remixPrompt", required: true)
    }
}

public struct RemoveBackgroundRequest: LegnextRequestBody {
    public static let kind = LegnextKind.removeBackground
    public var imgUrl: String
    public var callback: String?
    public init(imgUrl: String, callback: String? = nil) {
        self.imgUrl = imgUrl
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) { try Rule.url(imgUrl, "imgUrl", maxLength: 1024) }
}

public struct EnhanceRequest: LegnextRequestBody {
    public static let kind = LegnextKind.enhance
    public var jobId: String
    public var imageNo: Int
    public var callback: String?
    public init(jobId: String, imageNo: Int, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(imageNo, "imageNo", 0...3)
    }
}

/// A video from a prompt (`"<image url> text"`), or from image `imageNo` of an earlier image
/// job `jobId` (the prompt then optional).
public struct VideoDiffusionRequest: LegnextRequestBody {
    public static let kind = LegnextKind.videoDiffusion
    public var prompt: String?
    public var jobId: String?
    public var imageNo: Int?
    /// 0 480p, 1 720p.
    public var videoType: Int?
    public var callback: String?
    public init(prompt: String, videoType: Int? = nil, callback: String? = nil) {
        self.prompt = prompt
        self.videoType = videoType
        self.callback = callback
    }
    public init(jobId: String, imageNo: Int, prompt: String? = nil, videoType: Int? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.imageNo = imageNo
        self.prompt = prompt
        self.videoType = videoType
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        if let jobId {
            try Rule.jobId(jobId)
            guard let imageNo else { throw RequestValidationError("imageNo is required (0–3): which image of job \(jobId) to animate") }
            try Rule.range(imageNo, "imageNo", 0...3)
            try Rule.text(prompt, "prompt", required: false)
        } else {
            try Rule.check(imageNo == nil, "imageNo needs the image job it numbers: a parent job (--parent) or params.jobId")
            try Rule.text(prompt, "prompt", required: true)
        }
        try Rule.range(videoType, "videoType", 0...1, required: false)
    }
}

public struct ExtendVideoRequest: LegnextRequestBody {
    public static let kind = LegnextKind.extendVideo
    public var jobId: String
    public var videoNo: Int
    public var prompt: String?
    public var callback: String?
    public init(jobId: String, videoNo: Int, prompt: String? = nil, callback: String? = nil) {
        self.jobId = jobId
        self.videoNo = videoNo
        self.prompt = prompt
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(videoNo, "videoNo", 0...3)
        try Rule.text(prompt, "prompt", required: false)
    }
}

public struct VideoUpscaleRequest: LegnextRequestBody {
    public static let kind = LegnextKind.videoUpscale
    public var jobId: String
    public var videoNo: Int
    public var callback: String?
    public init(jobId: String, videoNo: Int, callback: String? = nil) {
        self.jobId = jobId
        self.videoNo = videoNo
        self.callback = callback
    }
    public func validate() throws(RequestValidationError) {
        try Rule.jobId(jobId)
        try Rule.range(videoNo, "videoNo", 0...3)
    }
}

private func canvasRules(_ canvas: Canvas, _ imgPos: ImagePosition) throws(RequestValidationError) {
    try Rule.check(canvas.width > 0 && canvas.height > 0, "canvas width and height must be positive")
    try Rule.check(imgPos.width > 0 && imgPos.height > 0, "imgPos width and height must be positive")
    try Rule.check(imgPos.x >= 0 && imgPos.y >= 0, "imgPos x and y must not be negative")
}
