import Foundation
import QueueSupport
import Testing

@testable import LegnextAPI

/// The documented ranges, checked before anything is sent.
@Suite struct RequestValidationTests {
    @Test(
        arguments: [
            ("diffusion", "a fox", [:], nil),
            ("variation", nil, ["imageNo": 1, "type": 0] as [String: JSONValue], "R"),
            ("upscale", nil, ["imageNo": 3, "type": 1], "R"),
            ("reroll", nil, [:], "R"),
            ("blend", nil, ["imgUrls": ["https://a/1.png", "https://a/2.png"], "aspect_ratio": "1:1"], nil),
            ("describe", nil, ["imgUrl": "https://a/1.png"], nil),
            ("shorten", "a long prompt", [:], nil),
            ("pan", "more sky", ["imageNo": 0, "direction": 2, "scale": 1.5], "R"),
            ("outpaint", nil, ["imageNo": 0, "scale": 2.0], "R"),
            ("inpaint", "a hat", ["imageNo": 0, "mask": ["areas": [["width": 1024, "height": 1024, "points": [10, 10, 500, 10, 500, 500]]]]], "R"),
            ("inpaint", nil, ["imageNo": 1, "mask": ["url": "https://a/mask.png"]], "R"),
            ("remix", "as a sketch", ["imageNo": 1, "mode": 1], "R"),
            (
                "edit", "a boat",
                ["imageNo": 0, "canvas": ["width": 1024, "height": 1024], "imgPos": ["width": 512, "height": 512, "x": 0, "y": 0]], "R"
            ),
            (
                "upload-paint", "a boat",
                [
                    "imgUrl": "https://a/1.png", "canvas": ["width": 1, "height": 1], "imgPos": ["width": 1, "height": 1, "x": 0, "y": 0],
                    "mask": "m",
                ], nil
            ),
            ("retexture", "velvet", ["imgUrl": "https://a/1.png"], nil),
            ("remove-background", nil, ["imgUrl": "https://a/1.png"], nil),
            ("enhance", nil, ["imageNo": 2], "R"),
            ("video-diffusion", "https://a/1.png a fox running", ["videoType": 1], nil),
            ("video-diffusion", nil, ["imageNo": 2], "R"),
            ("video-diffusion", "slowly, at dusk", ["imageNo": 0, "videoType": 0], "R"),
            ("extend-video", nil, ["videoNo": 0], "R"),
            ("video-upscale", nil, ["videoNo": 3], "R"),
        ] as [(String, String?, [String: JSONValue], String?)]
    )
    func everyEndpointBuildsFromQueueData(kind: String, prompt: String?, params: [String: JSONValue], parent: String?) throws {
        let request = try LegnextRequest.build(kind: kind, prompt: prompt, params: params, parentRemoteJobId: parent)
        #expect(request.kind.rawValue == kind)
    }

    @Test(
        arguments: [
            ("diffusion", nil, [:], nil, "needs a prompt"),
            ("diffusion", "   ", [:], nil, "must not be empty"),
            ("diffusion", String(repeating: "é", count: 8193), [:], nil, "8193 characters"),
            ("imagine", "x", [:], nil, "unknown kind"),
            ("upscale", nil, ["imageNo": 4, "type": 0] as [String: JSONValue], "R", "imageNo must be 0–3 (got 4)"),
            ("upscale", nil, ["imageNo": 1, "type": 0], nil, "acts on an earlier job"),
            ("upscale", nil, ["imageNo": "two", "type": 0], "R", "imageNo: expected a number"),
            ("upscale", nil, ["imageNo": 1], "R", "type is required"),
            ("upscale", nil, ["imageNo": 1, "type": 0, "imgNo": 1], "R", "no parameter \"imgNo\""),
            ("upscale", "x", ["imageNo": 1, "type": 0], "R", "takes no prompt"),
            ("pan", nil, ["imageNo": 0, "direction": 2, "scale": 3.5], "R", "scale must be 1.1–3.0"),
            ("outpaint", nil, ["imageNo": 0, "scale": 1.0], "R", "scale must be 1.1–2.0"),
            ("blend", nil, ["imgUrls": ["https://a/1.png"], "aspect_ratio": "1:1"], nil, "2–5 URLs"),
            ("blend", nil, ["imgUrls": ["https://a/1.png", "https://a/2.png"], "aspect_ratio": "16:9"], nil, "aspect_ratio must be one of"),
            ("describe", nil, ["imgUrl": "file:///etc/passwd"], nil, "must be an http(s) URL"),
            ("inpaint", nil, ["imageNo": 0], "R", "mask is required"),
            ("inpaint", nil, ["imageNo": 0, "mask": "iVBORw0KGgo="], "R", "no image file or base64"),
            (
                "inpaint", nil, ["imageNo": 0, "mask": ["areas": [["width": 100, "height": 600, "points": [0, 0, 9, 0, 9, 9]]]]], "R",
                "width must be 500–4096"
            ),
            ("inpaint", nil, ["imageNo": 0, "mask": ["areas": [["width": 600, "height": 600, "points": [0, 0, 9]]]]], "R", "x, y pairs"),
            ("inpaint", nil, ["imageNo": 0, "mask": ["url": "file:///etc/passwd"]], "R", "must be an http(s) URL"),
            ("video-upscale", nil, ["videoNo": 4], "R", "videoNo must be 0–3"),
            ("video-diffusion", nil, ["imageNo": 4], "R", "imageNo must be 0–3"),
            ("video-diffusion", nil, [:], "R", "imageNo is required"),
            ("video-diffusion", "a fox", ["imageNo": 1], nil, "needs the image job"),
            ("diffusion", "x", ["callback": "https://evil"], nil, "set by legnext-queue"),
            ("upscale", nil, ["jobId": "job 17", "imageNo": 0, "type": 0], nil, "params.jobId must be a Legnext job id, a UUID"),
            ("retexture", "wood", ["imgUrl": .string("https://a.example/" + String(repeating: "x", count: 1010))], nil, "at most 1024"),
            ("remove-background", nil, ["imgUrl": .string("https://a.example/" + String(repeating: "x", count: 1010))], nil, "at most 1024"),
        ] as [(String, String?, [String: JSONValue], String?, String)]
    )
    func mistakesAreCaughtWithAMessage(kind: String, prompt: String?, params: [String: JSONValue], parent: String?, message: String) {
        #expect {
            try LegnextRequest.build(kind: kind, prompt: prompt, params: params, parentRemoteJobId: parent)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    /// A jobId a person wrote is checked for Legnext's id shape; one Legnext gave is taken as it is.
    @Test func aWrittenJobIdIsAUUIDAndAGivenOneIsTrusted() throws {
        let uuid = "3f2b9c1e-8d4a-4e6f-9b7c-2a1d0e5f6c7b"
        #expect(throws: Never.self) { try LegnextRequest.build(kind: "reroll", prompt: nil, params: ["jobId": .string(uuid)]) }
        #expect(throws: Never.self) { try LegnextRequest.build(kind: "reroll", prompt: nil, params: [:], parentRemoteJobId: "legnext-own-id") }
        #expect(throws: Never.self) {
            try LegnextRequest.build(
                kind: "describe",
                prompt: nil,
                params: ["imgUrl": .string("https://a.example/" + String(repeating: "x", count: 1200))]
            )
        }
    }

    /// What a follow-up needs of its parent, as the docs say: an image or a video as it acts on,
    /// a draft-mode diffusion for enhance, at most 4 extensions of a video.
    @Test(
        arguments: [
            ("upscale", "diffusion", "a fox", 0, nil),
            ("upscale", "video-diffusion", nil, 0, "a video-diffusion job makes videos"),
            ("variation", "describe", nil, 0, "makes text"),
            ("video-diffusion", "upscale", nil, 0, nil),
            ("video-diffusion", "extend-video", nil, 0, "acts on an image"),
            ("extend-video", "video-diffusion", "https://a/1.png waves", 0, nil),
            ("extend-video", "diffusion", "a fox", 0, "acts on a video"),
            ("video-upscale", "extend-video", nil, 4, nil),
            ("extend-video", "extend-video", nil, 3, nil),
            ("extend-video", "extend-video", nil, 4, "already extended 4 times"),
            ("enhance", "diffusion", "a fox --v 7 --draft", 0, nil),
            ("enhance", "diffusion", "a fox --v 7", 0, "has no --draft"),
            ("enhance", "variation", nil, 0, nil),
            ("reroll", "blend", nil, 0, nil),
        ] as [(String, String, String?, Int, String?)]
    )
    func aFollowUpFitsItsParent(kind: String, parentKind: String, parentPrompt: String?, extensions: Int, problem: String?) throws {
        let found = try #require(LegnextKind(rawValue: kind)).parentProblem(
            parentKind: parentKind,
            parentPrompt: parentPrompt,
            extensions: extensions
        )
        if let problem {
            #expect(found?.contains(problem) == true, "\(found ?? "no problem")")
        } else {
            #expect(found == nil)
        }
    }

    @Test func typedRequestsCheckThemselves() {
        #expect(throws: RequestValidationError.self) { try LegnextRequest(UpscaleRequest(jobId: "", imageNo: 0, type: 0)) }
        #expect(throws: RequestValidationError.self) { try LegnextRequest(VariationRequest(jobId: "j", imageNo: 0, type: 2)) }
        #expect(throws: Never.self) { try LegnextRequest(DiffusionRequest(text: String(repeating: "x", count: 8192))) }
    }

    @Test func theKeyNeverPrints() {
        let key = APIKey("sk-very-secret\n")!
        #expect("\(key)" == "<redacted>")
        #expect(String(reflecting: key) == "<redacted>")
        #expect(APIKey("  \n") == nil)
        #expect(APIKey("a\nb") == nil)
    }
}

/// The body on the wire: what Legnext reads back is exactly what the request holds.
@Suite struct RequestEncodingTests {
    @Test(
        arguments: [
            ("a red fox --ar 16:9 --v 7", nil),
            (#"quotes " and \ backslash, a / slash, tab\t, newline\n, \u{01}, emoji 🦊, é"#, "https://q.example/legnext/7/tok"),
            ("", "http://127.0.0.1:8080/legnext/1/abc"),
        ] as [(String, String?)]
    )
    func aDiffusionBodyReadsBackAsItsFields(text: String, callback: String?) throws {
        let request = LegnextRequest(unchecked: DiffusionRequest(text: text, callback: callback))
        let (buffer, contentType) = try request.encodedBody()
        #expect(contentType == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: String])
        #expect(object["text"] == text)
        #expect(object["callback"] == callback)
        #expect(object.count == (callback == nil ? 1 : 2))
        // The same object JSONEncoder makes of the struct: a field added to DiffusionRequest
        // but not to the hand-written body fails here.
        let encoded = try JSONEncoder().encode(DiffusionRequest(text: text, callback: callback))
        #expect(try JSONSerialization.jsonObject(with: encoded) as? [String: String] == object)
    }
}
