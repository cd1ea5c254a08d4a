import Foundation
import LegnextAPI
import Testing

/// The Job object as the docs and the SDK show it, odd shapes included.
@Suite struct JobDecodingTests {
    @Test func documentedCompletedDiffusion() throws {
        let text = """
            {"job_id":"4b7c0f6e-1f2a-4d7e-9f3a-2b9c1d0e5a77","model":"midjourney","task_type":"diffusion","status":"completed",
             "config":{"service_mode":"public","webhook_config":{"endpoint":"","secret":""}},
             "input":{"text":"a red fox --ar 3:2"},"detail":null,"logs":[],
             "output":{"image_url":"https://cdn.legnext.ai/grid.png","image_urls":["https://cdn.legnext.ai/0.png","https://cdn.legnext.ai/1.png","https://cdn.legnext.ai/2.png","https://cdn.legnext.ai/3.png"],
                       "video_urls":[],"seed":"123456","available_actions":{"upscale":[0,1,2,3],"variation":[0,1,2,3],"reroll":[0]}},
             "meta":{"created_at":"2025-06-01T10:00:00Z","started_at":"2025-06-01T10:00:02.5Z","ended_at":"2025-06-01T10:00:41Z",
                     "usage":{"type":"point","frozen":80,"consume":80}},
             "error":{"code":0,"message":"","raw_message":"","detail":null}}
            """
        let job = try LegnextJob(data: Data(text.utf8))
        #expect(job.status == .completed)
        #expect(job.taskType == "diffusion")
        #expect(job.output.imageURL == "https://cdn.legnext.ai/grid.png")
        #expect(job.output.imageURLs.count == 4)
        #expect(job.output.seed == "123456")
        #expect(job.output.availableActions["upscale"] == [0, 1, 2, 3])
        #expect(job.error == nil, "code 0 with empty messages is no error")
        #expect(job.usage == LegnextUsage(type: "point", frozen: 80, consume: 80))
        #expect(job.endedAt!.timeIntervalSince(job.createdAt!) == 41)
        #expect(job.startedAt!.timeIntervalSince(job.createdAt!) == 2.5)
        #expect(job.extra["config"] != nil && job.extra["input"] != nil, "unknown members are kept")
    }

    @Test(arguments: [
        ("2025-06-01T10:00:41Z", 41.0),
        ("2025-06-01T10:00:41.25Z", 41.25),
        ("2025-06-01T10:00:41.123456789Z", 41.123456789),
        ("2025-06-01T12:00:41+02:00", 41.0),
        ("2025-06-01T10:00:41.5+00:00", 41.5),
        (" 2025-06-01T10:00:41Z\\t", 41.0),
    ])
    func timesInEveryISOShape(ended: String, seconds: Double) throws {
        let text = #"{"job_id":"j","status":"completed","meta":{"created_at":"2025-06-01T10:00:00Z","ended_at":"\#(ended)"}}"#
        let job = try LegnextJob(data: Data(text.utf8))
        let elapsed = try #require(job.endedAt).timeIntervalSince(try #require(job.createdAt))
        #expect(abs(elapsed - seconds) < 1e-6, "\(ended)")
    }

    @Test func pendingJobWithAbsentValuesInEveryShape() throws {
        let text = """
            {"job_id":"abc","status":"pending","task_type":"remove_background",
             "output":{"image_url":"","image_urls":null,"video_urls":[""],"seed":""},
             "meta":{"created_at":"2025-06-01T10:00:00Z","started_at":"0001-01-01T00:00:00Z","ended_at":"0001-01-01T00:00:00Z"},
             "brand_new_field":{"x":1}}
            """
        let job = try LegnextJob(data: Data(text.utf8))
        #expect(job.status == .pending)
        #expect(job.taskType == "remove-background")
        #expect(job.output.imageURL == nil)
        #expect(job.output.imageURLs.isEmpty)
        #expect(job.output.videoURLs.isEmpty)
        #expect(job.output.seed == nil)
        #expect(job.startedAt == nil && job.endedAt == nil)
        #expect(job.extra["brand_new_field"] == ["x": 1])
    }

    @Test func textOutputsOfDescribeAndShorten() throws {
        let describe = try LegnextJob(
            data: Data(#"{"job_id":"d","status":"completed","output":{"description":"a fox in snow","prompts":["fox, snow","winter fox"]}}"#.utf8)
        )
        #expect(describe.output.texts == ["a fox in snow", "fox, snow", "winter fox"])
        let shorten = try LegnextJob(data: Data(#"{"job_id":"s","status":"completed","output":{"promptEn":"short","finalPrompt":"shorter"}}"#.utf8))
        #expect(shorten.output.texts == ["short", "shorter"])
        let video = try LegnextJob(data: Data(#"{"job_id":"v","status":"completed","output":{"video_urls":["https://cdn/v0.mp4"],"seed":42}}"#.utf8))
        #expect(video.output.videoURLs == ["https://cdn/v0.mp4"])
        #expect(video.output.seed == "42")
    }

    @Test func failedJobKeepsItsErrorObject() throws {
        let job = try LegnextJob(
            data: Data(
                #"{"job_id":"f","status":"failed","error":{"code":10001,"message":"banned prompt","raw_message":"Midjourney: banned","detail":{"word":"x"}}}"#
                    .utf8
            )
        )
        #expect(job.status == .failed)
        #expect(job.error?.code == 10001)
        #expect(job.error?.summary == "banned prompt (code 10001): Midjourney: banned")
        #expect(job.error?.json["detail"] == ["word": "x"])
    }

    @Test func anUnknownStatusIsAnErrorThatNamesIt() {
        #expect(throws: LegnextDecodingError.unknownStatus("queued_remotely")) {
            try LegnextJob(data: Data(#"{"job_id":"x","status":"queued_remotely"}"#.utf8))
        }
        #expect("\(LegnextDecodingError.unknownStatus("queued_remotely"))".contains("queued_remotely"))
        #expect(throws: LegnextDecodingError.missingField("job_id")) { try LegnextJob(data: Data(#"{"status":"pending"}"#.utf8)) }
        #expect(throws: (any Error).self) { try LegnextJob(data: Data("<html>".utf8)) }
    }
}
