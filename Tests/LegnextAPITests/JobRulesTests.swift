import Foundation
import Testing

@testable import LegnextAPI

/// The rules the CLI checks before an insert and the daemon checks at claim are one set: every
/// job shape the schema refuses at insert (migration 0006) is refused here too, with a message.
@Suite struct JobRulesTests {
    @Test(
        arguments: [
            ("diffusion", "   ", "{}", false),
            ("diffusion", "\u{3000}\u{A0}\t", "{}", false),
            ("blend", nil, #"{"imgUrls": ["https://a.example/1.png"], "aspect_ratio": "1:1"}"#, false),
            ("blend", nil, #"{"imgUrls": ["https://a.example/1.png", "https://a.example/2.png"]}"#, false),
            ("describe", nil, #"{"imgUrl": "not a url"}"#, false),
            ("describe", nil, "{}", false),
            ("upscale", nil, #"{"imageNo": 9, "type": 0}"#, true),
            ("upscale", nil, #"{"imageNo": 2}"#, true),
            ("pan", nil, #"{"imageNo": 0, "direction": 1, "scale": 9}"#, true),
            ("video-diffusion", "https://a.example/1.png a fox", #"{"videoType": 7}"#, false),
            ("inpaint", nil, #"{"imageNo": 1, "maskFile": "/etc/shadow"}"#, true),
            ("diffusion", "x", #"{"callback": "https://evil.example/"}"#, false),
            ("diffusion", "x", #"{"text": "\ud800"}"#, false),
            ("diffusion", "x", "[1, 2]", false),
            ("reroll", nil, "{}", false),
        ] as [(String, String?, String, Bool)]
    )
    func whatTheSchemaRefusesTheProgramRefuses(kind: String, prompt: String?, params: String, hasParent: Bool) {
        #expect(throws: RequestValidationError.self) {
            try LegnextRequest.job(
                kind: kind,
                prompt: prompt,
                params: LegnextRequest.jobParams(params),
                hasParent: hasParent,
                parentRemoteJobId: hasParent ? "parent" : nil
            )
        }
    }

    @Test func paramsAreReadExactlyOrNotAtAll() throws {
        #expect(try LegnextRequest.jobParams("{}").isEmpty)
        #expect(try LegnextRequest.jobParams(#"{"videoType": 1}"#)["videoType"] == .int(1))
        for text in [#"{"videoType": "\ud800"}"#, String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "{", "not json"] {
            let error = #expect(throws: RequestValidationError.self) { try LegnextRequest.jobParams(text) }
            #expect(error?.message.contains("params could not be read") == true, "\(String(describing: error))")
        }
        let array = #expect(throws: RequestValidationError.self) { try LegnextRequest.jobParams("[1]") }
        #expect(array?.message == "params must be a JSON object")
    }

    /// A follow-up whose parent has no Legnext id is never sent with a stand-in id.
    @Test func aFollowUpNeedsItsParentsRealId() {
        let error = #expect(throws: RequestValidationError.self) {
            try LegnextRequest.job(kind: "reroll", prompt: nil, params: [:], hasParent: true, parentRemoteJobId: nil)
        }
        #expect(error?.message.contains("has not completed") == true)
    }
}
