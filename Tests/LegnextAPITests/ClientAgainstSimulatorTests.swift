import Foundation
import Hummingbird
import LegnextSimulator
import Logging
import NIOCore
import QueueTestSupport
import ServiceLifecycle
import Testing

@testable import LegnextAPI

/// The real client against the simulator over loopback.
@Suite(.serialized) struct ClientAgainstSimulatorTests {
    static func quickJobs() -> SimulatorConfiguration {
        var config = SimulatorConfiguration()
        config.durationMedian = 0.2
        config.durationSpread = 0
        return config
    }

    static func waitCompleted(_ client: LegnextClient, _ id: String) async throws -> LegnextJob {
        for _ in 0..<200 {
            if case .success(let job) = await client.job(id: id), job.status.isFinal { return job }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CancellationError()
    }

    @Test func everyEndpointRoundTrips() async throws {
        try await withSimulator(Self.quickJobs()) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            // In draft mode, so that enhance (which needs a draft-mode job) has its parent too.
            guard case .success(let parent) = await client.submit(try LegnextRequest(DiffusionRequest(text: "a red fox --draft"))) else {
                Issue.record("diffusion not accepted")
                return
            }
            #expect(parent.status == .pending)
            let done = try await Self.waitCompleted(client, parent.jobId)
            #expect(done.status == .completed)
            #expect(done.output.imageURLs.count == 4)
            let p = parent.jobId
            let requests: [LegnextRequest] = [
                try LegnextRequest(VariationRequest(jobId: p, imageNo: 1, type: 1, remixPrompt: "bluer")),
                try LegnextRequest(UpscaleRequest(jobId: p, imageNo: 2, type: 0)),
                try LegnextRequest(RerollRequest(jobId: p)),
                try LegnextRequest(BlendRequest(imgUrls: ["https://a/1.png", "https://a/2.png"], aspectRatio: "3:2")),
                try LegnextRequest(DescribeRequest(imgUrl: "https://a/1.png")),
                try LegnextRequest(ShortenRequest(prompt: "a long prompt")),
                try LegnextRequest(PanRequest(jobId: p, imageNo: 0, direction: 3, scale: 1.5)),
                try LegnextRequest(OutpaintRequest(jobId: p, imageNo: 0, scale: 1.5)),
                try LegnextRequest(
                    InpaintRequest(
                        jobId: p,
                        imageNo: 0,
                        mask: InpaintMask(areas: [.init(width: 1024, height: 1024, points: [0, 0, 512, 0, 512, 512])]),
                        remixPrompt: "a hat"
                    )
                ),
                try LegnextRequest(RemixRequest(jobId: p, imageNo: 0, remixPrompt: "as a sketch", mode: 0)),
                try LegnextRequest(
                    EditRequest(
                        jobId: p,
                        imageNo: 0,
                        canvas: Canvas(width: 1024, height: 1024),
                        imgPos: ImagePosition(width: 512, height: 512, x: 10, y: 10),
                        remixPrompt: "a boat"
                    )
                ),
                try LegnextRequest(
                    UploadPaintRequest(
                        imgUrl: "https://a/1.png",
                        canvas: Canvas(width: 1024, height: 1024),
                        imgPos: ImagePosition(width: 512, height: 512, x: 0, y: 0),
                        remixPrompt: "a boat",
                        mask: "mask-data"
                    )
                ),
                try LegnextRequest(RetextureRequest(imgUrl: "https://a/1.png", remixPrompt: "velvet")),
                try LegnextRequest(RemoveBackgroundRequest(imgUrl: "https://a/1.png")),
                try LegnextRequest(EnhanceRequest(jobId: p, imageNo: 1)),
                try LegnextRequest(VideoDiffusionRequest(prompt: "https://a/1.png a fox running", videoType: 0)),
            ]
            var videoParent: String?
            for request in requests {
                let outcome = await client.submit(request)
                guard case .success(let job) = outcome else {
                    Issue.record("\(request.kind.rawValue): \(outcome)")
                    continue
                }
                #expect(job.status == .pending, "\(request.kind.rawValue)")
                if request.kind == .videoDiffusion { videoParent = job.jobId }
            }
            let video = try await Self.waitCompleted(client, try #require(videoParent))
            #expect(video.output.videoURLs.count == 4)
            for request in [
                try LegnextRequest(ExtendVideoRequest(jobId: video.jobId, videoNo: 1, prompt: "longer")),
                try LegnextRequest(VideoUpscaleRequest(jobId: video.jobId, videoNo: 0)),
            ] {
                let outcome = await client.submit(request)
                #expect(outcome.value != nil, "\(request.kind.rawValue): \(outcome)")
            }
            guard case .success(let balance) = await client.balance() else {
                Issue.record("balance")
                return
            }
            #expect(balance.availablePoints != nil)
        }
    }

    @Test func eachOutcomeComesFromItsKnob() async throws {
        // 401: a wrong key.
        try await withSimulator(Self.quickJobs()) { _, baseURL in
            let client = simulatorClient(baseURL, key: "wrong-key-123")
            defer { Task { try? await client.shutdown() } }
            let outcome = await client.submit(try LegnextRequest(DiffusionRequest(text: "x")))
            guard case .account(let failure) = outcome else {
                Issue.record("expected 401, got \(outcome)")
                return
            }
            #expect(failure.httpStatus == 401)
            #expect(!"\(outcome)".contains("wrong-key-123"), "the key must not appear in an outcome")
            // 403 and 422: job-level refusals.
            let good = simulatorClient(baseURL)
            defer { Task { try? await good.shutdown() } }
            let refused = await good.submit(try LegnextRequest(DiffusionRequest(text: "something sim:reject=403")))
            guard case .rejected(let forbidden) = refused else {
                Issue.record("expected 403, got \(refused)")
                return
            }
            #expect(forbidden.httpStatus == 403)
            #expect(forbidden.error.message == "sensitive content detected")
            let invalid = await good.submit(try LegnextRequest(UpscaleRequest(jobId: "no-such-job", imageNo: 0, type: 0)))
            guard case .rejected(let notFound) = invalid else {
                Issue.record("expected 400, got \(invalid)")
                return
            }
            #expect(notFound.httpStatus == 400)
            // 404 on a job id Legnext does not know.
            guard case .rejected(let unknown) = await good.job(id: "does-not-exist") else {
                Issue.record("expected 404")
                return
            }
            #expect(unknown.httpStatus == 404)
        }
        // 402: out of credit.
        var broke = Self.quickJobs()
        broke.credits = 100
        try await withSimulator(broke) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            #expect(await client.submit(try LegnextRequest(DiffusionRequest(text: "first"))).value != nil)
            guard case .account(let failure) = await client.submit(try LegnextRequest(DiffusionRequest(text: "second"))) else {
                Issue.record("expected 402")
                return
            }
            #expect(failure.httpStatus == 402)
        }
        // 429 with Retry-After.
        var limited = Self.quickJobs()
        limited.rateLimit = 1
        try await withSimulator(limited) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            // Back-to-back requests against 1 request/s: one is refused however slow the machine.
            var retryAfter: Duration??
            for _ in 0..<20 where retryAfter == nil {
                if case .rateLimited(let after, _) = await client.balance() { retryAfter = .some(after) }
            }
            guard case .some(let after) = retryAfter else {
                Issue.record("expected 429")
                return
            }
            #expect(after == .seconds(1))
        }
        // 500 before anything is done: transient; for a POST the job may exist.
        var failing = Self.quickJobs()
        failing.errorRate = 1
        try await withSimulator(failing) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            guard case .transient(let failure) = await client.submit(try LegnextRequest(DiffusionRequest(text: "x"))) else {
                Issue.record("expected 500")
                return
            }
            #expect(failure.httpStatus == 500)
            #expect(failure.mayHaveReachedServer)
        }
        // A 200 whose body is not JSON.
        var garbled = Self.quickJobs()
        garbled.malformedRate = 1
        try await withSimulator(garbled) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            guard case .transient(let failure) = await client.submit(try LegnextRequest(DiffusionRequest(text: "x"))) else {
                Issue.record("expected an unreadable answer")
                return
            }
            #expect(failure.reason.contains("unreadable"))
            #expect(failure.mayHaveReachedServer)
        }
    }

    @Test func aDroppedConnectionMayHaveCreatedTheJob() async throws {
        var dropping = Self.quickJobs()
        dropping.dropRate = 1
        try await withSimulator(dropping) { _, baseURL in
            let client = simulatorClient(baseURL)
            defer { Task { try? await client.shutdown() } }
            guard case .transient(let failure) = await client.submit(try LegnextRequest(DiffusionRequest(text: "dropped"))) else {
                Issue.record("expected a dropped connection")
                return
            }
            #expect(failure.mayHaveReachedServer)
            let stats = try await simulatorStats(baseURL)
            #expect(stats.number("jobs_created") == 1, "the job was created although no answer came")
        }
    }

    @Test func aRefusedConnectionProvablyNeverLeft() async throws {
        // A port nothing listens on: bind one, note it, close it.
        let port = try await withSimulator(Self.quickJobs()) { simulator, _ in await simulator.port() }
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(
                baseURL: "http://127.0.0.1:\(port)/api",
                apiKey: APIKey("k")!,
                connectTimeout: .milliseconds(500),
                requestTimeout: .seconds(2)
            ),
            logger: Logger(label: "test")
        )
        defer { Task { try? await client.shutdown() } }
        guard case .transient(let failure) = await client.submit(try LegnextRequest(DiffusionRequest(text: "x"))) else {
            Issue.record("expected a connection failure")
            return
        }
        #expect(!failure.mayHaveReachedServer, "\(failure)")
    }

    /// `socket()` failing for want of descriptors means no connection, so nothing was sent: a
    /// retry, never `uncertain`. (The error as NIO throws it from `socket()`.)
    @Test func runningOutOfDescriptorsIsNotSent() {
        for code in [EMFILE, ENFILE] {
            let failure = LegnextClient.classify(IOError(errnoCode: code, reason: "socket"), maxBytes: 1 << 20)
            #expect(!failure.mayHaveReachedServer, "\(failure)")
            #expect(failure.reason.contains("nothing sent"))
        }
        #expect(LegnextClient.classify(IOError(errnoCode: ECONNRESET, reason: "read"), maxBytes: 1 << 20).mayHaveReachedServer)
    }

    @Test func aFiftyMegabyteAnswerIsAnErrorNotAnOutOfMemory() async throws {
        let router = Router()
        router.get("/api/v1/job/:id") { _, _ -> Response in
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1 << 20)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init { writer in
                    for _ in 0..<50 { try await writer.write(chunk) }
                    try await writer.finish(nil)
                }
            )
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "big")
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "big")))
        let running = Task { try await group.run() }
        var iterator = portStream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let client = LegnextClient(
            configuration: LegnextClientConfiguration(baseURL: "http://127.0.0.1:\(port)/api", apiKey: APIKey("k")!, maxResponseBytes: 4 << 20),
            logger: Logger(label: "test")
        )
        let outcome = await client.job(id: "big")
        guard case .transient(let failure) = outcome else {
            Issue.record("expected a too-large answer, got \(outcome)")
            return
        }
        #expect(failure.reason.contains("larger than"))
        try? await client.shutdown()
        await group.triggerGracefulShutdown()
        try? await running.value
    }
}
