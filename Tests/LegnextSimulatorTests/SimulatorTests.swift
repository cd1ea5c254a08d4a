import Foundation
import LegnextAPI
import LegnextSimulator
import QueueSupport
import QueueTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct SimulatorTests {
    @Test func theRateLimitHoldsInEverySlidingSecond() async throws {
        var config = SimulatorConfiguration()
        config.rateLimit = 20
        try await withSimulator(config) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            let accepted = Recorder()
            // 8 clients hammer until the limit has bitten and 50 requests got through: how long
            // that takes depends on the machine, what is checked does not.
            let deadline = Date().addingTimeInterval(60)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !accepted.enough.withLock({ $0 }), Date() < deadline {
                            switch await client.balance() {
                            case .success:
                                accepted.times.withLock { $0.append(Date()) }
                            case .rateLimited:
                                if accepted.times.withLock({ $0.count }) >= 50 { accepted.enough.withLock { $0 = true } }
                            default:
                                break
                            }
                        }
                    }
                }
            }
            let times = accepted.times.withLock { $0 }
            #expect(times.count >= 50, "requests get through: \(times.count)")
            let stats = try await simulatorStats(baseURL)
            #expect((stats.number("rate_limited") ?? 0) > 0)
            // Measured where it is enforced: answers reach the client with jitter, arrivals do not.
            // A 429 is only sent with the window full, so the peak is exactly the limit.
            #expect(stats.number("peak_requests_per_second") == 20)
            let elapsed = times.last!.timeIntervalSince(times.first!)
            #expect(Double(times.count) <= 20 * (elapsed + 1) + 1, "no more than the limit over the run: \(times.count) in \(elapsed) s")
        }
    }

    @Test func creditsAreFrozenConsumedAndRefunded() async throws {
        var config = SimulatorConfiguration()
        config.credits = 1000
        config.durationMedian = 0.1
        config.durationSpread = 0
        try await withSimulator(config) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            let ok = try #require(await client.submit(try LegnextRequest(DiffusionRequest(text: "fine sim:duration=2"))).value)
            let bad = try #require(await client.submit(try LegnextRequest(DiffusionRequest(text: "doomed sim:fail sim:duration=2"))).value)
            var stats = try await simulatorStats(baseURL)
            #expect(stats.number("credits", "frozen") == 160)
            #expect(stats.number("credits", "left") == 840)
            let finished = await eventuallyAsync(timeout: 20) {
                let states = [await client.job(id: ok.jobId).value?.status, await client.job(id: bad.jobId).value?.status]
                return states == [.completed, .failed]
            }
            #expect(finished)
            let failed = try #require(await client.job(id: bad.jobId).value)
            #expect(failed.error?.code == 10001)
            stats = try await simulatorStats(baseURL)
            #expect(stats.number("credits", "frozen") == 0)
            #expect(stats.number("credits", "consumed") == 80)
            #expect(stats.number("credits", "left") == 920)
            // Two 2 s jobs, each pending for 5 % of its length before it processes.
            #expect(stats.number("duration_sum") == 4)
            #expect(abs((stats.number("job_time_sum") ?? 0) - 4.2) < 0.001)
            try await addSimulatorCredits(baseURL, points: 80)
            stats = try await simulatorStats(baseURL)
            #expect(stats.number("credits", "left") == 1000)
        }
    }

    @Test func concurrencyKeepsTheRestPendingAndStatsCountEverything() async throws {
        var config = SimulatorConfiguration()
        config.concurrency = 2
        try await withSimulator(config) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            var submitted: [String] = []
            for index in 0..<4 {
                submitted.append(
                    try #require(await client.submit(try LegnextRequest(DiffusionRequest(text: "job \(index) sim:duration=30"))).value).jobId
                )
            }
            _ = await client.submit(try LegnextRequest(DiffusionRequest(text: "job 0 sim:duration=30")))
            let ids = submitted
            let statuses = Box<[String]>([])
            let started = await eventuallyAsync(timeout: 20) {
                let now = await withTaskGroup(of: String.self) { group in
                    for id in ids { group.addTask { await client.job(id: id).value?.status.rawValue ?? "?" } }
                    return await group.reduce(into: [String]()) { $0.append($1) }
                }
                statuses.value = now
                return now.filter { $0 == "processing" }.count == 2
            }
            #expect(started)
            #expect(statuses.value.filter { $0 == "pending" }.count == 2, "the other two wait for a slot")
            let stats = try await simulatorStats(baseURL)
            #expect(stats.number("jobs_created") == 5)
            #expect(stats.number("duplicate_submissions") == 1)
            #expect(stats.number("peak_processing") == 2)
            #expect(stats["requests"]?["POST /v1/diffusion"]?["200"]?.intValue == 5)
            #expect((stats["requests"]?["GET /v1/job/{id}"]?["200"]?.intValue ?? 0) >= 4)
            // Each job's time in a slot, waiting ones too: 30 s and the 0.5 s before `processing`.
            #expect(try await simulatorJobLengths(baseURL) == Array(repeating: 30.5, count: 5))
        }
    }

    @Test func theSameSeedGivesTheSameRun() async throws {
        var seeded = SimulatorConfiguration()
        seeded.seed = 42
        seeded.failRate = 0.3
        seeded.durationSpread = 0.5
        let config = seeded
        // However often a client looks at the running jobs (their estimates are noisy).
        func run(looking: Bool) async throws -> [String] {
            try await withSimulator(config) { _, baseURL in
                let client = simulatorClient(baseURL)
                defer { Task { try? await client.shutdown() } }
                var ids: [String] = []
                for index in 0..<10 {
                    ids.append(try #require(await client.submit(try LegnextRequest(DiffusionRequest(text: "p\(index)"))).value).jobId)
                    if looking { _ = await client.activeTasks() }
                }
                let stats = try await simulatorStats(baseURL)
                let lengths = try await simulatorJobLengths(baseURL).map { String(format: "%.3f", $0) }
                return ids + [String(stats.number("duration_sum") ?? 0)] + lengths
            }
        }
        let first = try await run(looking: false)
        let second = try await run(looking: true)
        #expect(first == second)
    }

    @Test func callbacksArePostedOnEachChange() async throws {
        var quick = SimulatorConfiguration()
        quick.durationMedian = 0.3
        quick.durationSpread = 0
        let config = quick
        let receiver = HTTPReceiver()
        try await receiver.run { receiverURL in
            try await withSimulator(config) { _, baseURL in
                let client = simulatorClient(baseURL)
                defer { Task { try? await client.shutdown() } }
                let request = try LegnextRequest(DiffusionRequest(text: "with callback")).withCallback(receiverURL + "/hooks/job-7")
                let job = try #require(await client.submit(request).value)
                #expect(await eventuallyAsync(timeout: 10) { receiver.requests.count >= 2 })
                let bodies = try receiver.requests.map { try LegnextJob(data: $0.body) }
                #expect(bodies.allSatisfy { $0.jobId == job.jobId })
                // Like webhooks anywhere, deliveries may arrive out of order.
                #expect(Set(bodies.map(\.status)) == [.processing, .completed])
                #expect(receiver.requests.allSatisfy { $0.path == "/hooks/job-7" })
                // Counted once the receiver's answer is back, which may be after the test saw the body.
                #expect(await eventuallyAsync(timeout: 10) { (try? await simulatorStats(baseURL))?.number("callbacks", "delivered") == 2 })
            }
        }
    }

    /// With a time scale each kind lasts as Legnext documents it, scaled: a video (3–5 min) takes
    /// several times a diffusion (30–90 s), and a diffusion about a minute times the scale.
    @Test func aTimeScaleGivesEachKindItsDocumentedLength() async throws {
        let diffusion = SimulatorConfiguration.logNormal(spanning: SimulatorConfiguration.documentedSeconds(of: "diffusion"))
        #expect(abs(diffusion.median - 51.96) < 0.01)
        #expect(abs(diffusion.median * exp(1.645 * diffusion.sigma) - 90) < 0.01, "the 95th percentile is the range's top")
        var config = SimulatorConfiguration()
        config.timeScale = 0.004
        try await withSimulator(config) { _, baseURL in
            let headers = ["content-type": "application/json", "x-api-key": "sim-key"]
            func length(_ path: String, _ body: String) async throws -> Double {
                let (posted, _) = try await URLSessionLite.post(baseURL + path, body: Data(body.utf8), headers: headers)
                let id = try #require((try JSONSerialization.jsonObject(with: posted) as? [String: Any])?["job_id"] as? String)
                var meta: [String: Any] = [:]
                _ = try await eventuallyAsync(timeout: 20) {
                    let (data, _) = try await URLSessionLite.send(baseURL + "/v1/job/" + id, method: .GET, body: nil, headers: headers)
                    let job = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                    meta = job?["meta"] as? [String: Any] ?? [:]
                    return job?["status"] as? String == "completed"
                }
                let start = try #require((meta["started_at"] as? String).flatMap(Timestamp.parse))
                let end = try #require((meta["ended_at"] as? String).flatMap(Timestamp.parse))
                return end.timeIntervalSince(start)
            }
            let image = try await length("/v1/diffusion", #"{"text": "a fox"}"#)
            let video = try await length("/v1/video-diffusion", #"{"prompt": "https://a.example/1.png a fox running"}"#)
            #expect((0.06...0.72).contains(image), "a 30–90 s diffusion at 0.004 (seeded; 0.12–0.36 for nine in ten): \(image) s")
            #expect(video > 2 * image, "video \(video) s, image \(image) s")
        }
    }

    /// Inpaint takes JSON as the docs say; a multipart form (what Legnext's Python SDK sends) is
    /// a body that is not JSON, refused like any other, and a documented JSON mask is accepted
    /// with `null` for an optional field read as absent.
    @Test func inpaintTakesTheDocumentedJSONMaskOnly() async throws {
        var config = SimulatorConfiguration()
        config.durationMedian = 0
        try await withSimulator(config) { _, baseURL in
            let headers = ["content-type": "application/json", "x-api-key": "sim-key"]
            let (parent, _) = try await URLSessionLite.post(baseURL + "/v1/diffusion", body: Data(#"{"text": "a fox"}"#.utf8), headers: headers)
            let parentId = try #require((try JSONSerialization.jsonObject(with: parent) as? [String: Any])?["job_id"] as? String)
            let form = "--b\r\nContent-Disposition: form-data; name=\"jobId\"\r\n\r\n\(parentId)\r\n--b--\r\n"
            let (refused, formStatus) = try await URLSessionLite.post(
                baseURL + "/v1/inpaint",
                body: Data(form.utf8),
                headers: ["content-type": "multipart/form-data; boundary=b", "x-api-key": "sim-key"]
            )
            #expect(formStatus == 400, "\(String(decoding: refused, as: UTF8.self))")
            let area = #"{"width": 1024, "height": 1024, "points": [0, 0, 500, 0, 500, 500]}"#
            let json = #"{"jobId": "\#(parentId)", "imageNo": 0, "remixPrompt": null, "mask": {"areas": [\#(area)]}}"#
            let (accepted, status) = try await URLSessionLite.post(baseURL + "/v1/inpaint", body: Data(json.utf8), headers: headers)
            #expect(status == 200, "\(String(decoding: accepted, as: UTF8.self))")
            let small = #"{"jobId": "\#(parentId)", "imageNo": 0, "mask": {"areas": [{"width": 100, "height": 100, "points": [0, 0, 9, 0, 9, 9]}]}}"#
            #expect(try await URLSessionLite.post(baseURL + "/v1/inpaint", body: Data(small.utf8), headers: headers).1 == 422)
        }
    }

    /// The follow-up rules of the docs: a jobId is a UUID; a follow-up acts on what its parent
    /// made (no upscale of a video); enhance needs a draft-mode job; a video is extended at most
    /// 4 times; describe's image may come as imgUrl, imageLink or imageBase64; the imgUrl of
    /// retexture is at most 1024 characters. A finished image offers the documented actions.
    @Test func followUpsFollowTheDocumentedRules() async throws {
        var config = SimulatorConfiguration()
        config.durationMedian = 0
        config.durationSpread = 0
        try await withSimulator(config) { _, baseURL in
            let headers = ["content-type": "application/json", "x-api-key": "sim-key"]
            @Sendable func post(_ path: String, _ body: String) async throws -> (status: Int, id: String?, message: String?) {
                let (data, status) = try await URLSessionLite.post(baseURL + path, body: Data(body.utf8), headers: headers)
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                return (status, object?["job_id"] as? String, object?["message"] as? String)
            }
            let image = try #require(try await post("/v1/diffusion", #"{"text": "a fox --v 7"}"#).id)
            let draft = try #require(try await post("/v1/diffusion", #"{"text": "a fox --v 7 --draft"}"#).id)
            let video = try #require(try await post("/v1/video-diffusion", #"{"jobId": "\#(image)", "imageNo": 0}"#).id)
            #expect(try await post("/v1/upscale", #"{"jobId": "job-17", "imageNo": 0, "type": 0}"#) == (400, nil, "jobId must be a job id (a UUID)"))
            let upscaleOfVideo = try await post("/v1/upscale", #"{"jobId": "\#(video)", "imageNo": 0, "type": 0}"#)
            #expect(upscaleOfVideo.status == 400 && upscaleOfVideo.message?.contains("needs a job that made images") == true, "\(upscaleOfVideo)")
            #expect(try await post("/v1/video-upscale", #"{"jobId": "\#(image)", "videoNo": 0}"#).status == 400)
            let enhanced = try await post("/v1/enhance", #"{"jobId": "\#(image)", "imageNo": 0}"#)
            #expect(enhanced.status == 400 && enhanced.message?.contains("draft-mode") == true, "\(enhanced)")
            let variationOfDraft = try #require(try await post("/v1/variation", #"{"jobId": "\#(draft)", "imageNo": 1, "type": 0}"#).id)
            #expect(
                try await post("/v1/enhance", #"{"jobId": "\#(variationOfDraft)", "imageNo": 0}"#).status == 200,
                "a draft's variation is a draft"
            )
            var last = video
            for _ in 0..<4 { last = try #require(try await post("/v1/extend-video", #"{"jobId": "\#(last)", "videoNo": 0}"#).id) }
            #expect(
                try await post("/v1/extend-video", #"{"jobId": "\#(last)", "videoNo": 0}"#) == (400, nil, "a video can be extended at most 4 times")
            )
            #expect(try await post("/v1/video-upscale", #"{"jobId": "\#(last)", "videoNo": 0}"#).status == 200)
            for body in [
                #"{"imgUrl": "https://a.example/1.png"}"#, #"{"imageLink": "https://a.example/1.png"}"#, #"{"imageBase64": "iVBORw0KGgo="}"#,
            ] {
                #expect(try await post("/v1/describe", body).status == 200, "\(body)")
            }
            #expect(try await post("/v1/describe", "{}").status == 400)
            let long = "https://a.example/" + String(repeating: "x", count: 1010)
            #expect(try await post("/v1/retexture", #"{"imgUrl": "\#(long)", "remixPrompt": "wood"}"#).status == 422)
            let (data, _) = try await URLSessionLite.send(baseURL + "/v1/job/" + image, method: .GET, body: nil, headers: ["x-api-key": "sim-key"])
            let job = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let actions = try #require((job["output"] as? [String: Any])?["available_actions"] as? [String: Any])
            #expect(actions["reroll"] as? Bool == true)
            for name in ["edit", "inpaint", "outpaint", "pan", "remix", "upscale", "variation"] {
                #expect(actions[name] as? [Int] == [0, 1, 2, 3], "\(name)")
            }
        }
    }

    /// The Job object is written by hand for speed: it must stay valid JSON, in Legnext's shape,
    /// whatever a prompt holds. Read back with Foundation's parser, not ours.
    @Test func theJobObjectIsValidJSONWhateverThePromptHolds() async throws {
        var config = SimulatorConfiguration()
        config.durationMedian = 0
        config.durationSpread = 0
        try await withSimulator(config) { _, baseURL in
            let prompt = "a \"quoted\" fox\\n\nnew line\ttab \u{01}\u{1F} / slash, ünïcødé 🦊 --ar 3:2"
            let body = try JSONSerialization.data(withJSONObject: ["text": prompt])
            let (posted, status) = try await URLSessionLite.post(
                baseURL + "/v1/diffusion",
                body: body,
                headers: ["content-type": "application/json", "x-api-key": "sim-key"]
            )
            #expect(status == 200, "\(String(decoding: posted, as: UTF8.self))")
            let created = try #require(try JSONSerialization.jsonObject(with: posted) as? [String: Any])
            let id = try #require(created["job_id"] as? String)
            #expect(id.count == 36 && id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            var job: [String: Any] = [:]
            #expect(
                try await eventuallyAsync(timeout: 10) {
                    let (data, _) = try await URLSessionLite.send(
                        baseURL + "/v1/job/" + id,
                        method: .GET,
                        body: nil,
                        headers: ["x-api-key": "sim-key"]
                    )
                    job = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                    return job["status"] as? String == "completed"
                }
            )
            #expect((job["input"] as? [String: Any])?["text"] as? String == prompt, "the prompt comes back byte for byte")
            #expect(job["model"] as? String == "midjourney" && job["task_type"] as? String == "diffusion")
            let webhook = (job["config"] as? [String: Any])?["webhook_config"] as? [String: Any]
            #expect(webhook?["endpoint"] as? String == "")
            let output = try #require(job["output"] as? [String: Any])
            #expect((output["image_url"] as? String)?.hasSuffix("/grid.png") == true)
            #expect((output["image_urls"] as? [String])?.count == 4)
            #expect((output["available_actions"] as? [String: Any])?["upscale"] as? [Int] == [0, 1, 2, 3])
            let meta = try #require(job["meta"] as? [String: Any])
            #expect(((meta["usage"] as? [String: Any])?["consume"] as? Int ?? 0) > 0)
            #expect((meta["ended_at"] as? String)?.hasSuffix("Z") == true)
            #expect((job["error"] as? [String: Any])?["code"] as? Int == 0)
        }
    }
}

final class Recorder: Sendable {
    let times = Mutex<[Date]>([])
    let enough = Mutex(false)
}
