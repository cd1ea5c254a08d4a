import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import QueueSupport
import ServiceLifecycle

/// Gives handlers the connection, so a simulated fault can drop it without an answer.
struct SimulatorRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var maxUploadSize: Int { 16 << 20 }
}

extension LegnextSimulator {
    static let apiKeyHeader = HTTPField.Name("x-api-key")!

    func makeRouter() -> Router<SimulatorRequestContext> {
        let router = Router(context: SimulatorRequestContext.self)
        router.post("/api/v1/:kind") { request, context in
            let kind = context.parameters.get("kind") ?? ""
            return try await self.api(request, context, route: "POST /v1/\(kind)") { account in
                await self.submit(kind: kind, request: request, account: account)
            }
        }
        router.get("/api/v1/job/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.api(request, context, route: "GET /v1/job/{id}") { account in
                switch await self.state.job(id: id, account: account) {
                case nil: return Self.error(404, code: 404, "job \(id) not found")
                case .failure(let error): return Self.error(error.status, code: error.code, error.message)
                case .success(let job): return Self.json(job)
                }
            }
        }
        router.get("/api/account/balance") { request, context in
            try await self.api(request, context, route: "GET /account/balance") { account in
                Self.json(["code": JSONValue.int(200), "message": .string("success"), "data": .object(await self.state.balance(account: account))])
            }
        }
        router.get("/api/account/active_tasks") { request, context in
            try await self.api(request, context, route: "GET /account/active_tasks") { account in
                guard self.configuration.activeTasks else { return Self.error(404, code: 404, "no endpoint /account/active_tasks") }
                return Self.json(await self.state.activeTasks(account: account))
            }
        }
        router.get("/api/account/info") { request, context in
            try await self.api(request, context, route: "GET /account/info") { account in Self.json(await self.state.accountInfo(account: account)) }
        }
        router.get("/_sim/stats") { _, _ in Self.json(await self.state.stats()) }
        router.get("/_sim/job-lengths") { _, _ in Self.json(["lengths": .array(await self.state.lengths().map { .double($0) })]) }
        router.post("/_sim/credits") { request, _ in
            var request = request
            let body = try? await request.collectBody(upTo: 1 << 16)
            let json = body.flatMap { try? JSONValue(data: Data(buffer: $0)) }
            guard let points = json?["points"]?.doubleValue, points.rounded() == points, abs(points) < 1e15 else {
                return Self.error(400, code: 400, "send {\"points\": N} (and \"account\": NAME for another account than the first)")
            }
            let name = json?["account"]?.stringValue
            guard let left = await self.state.addCredits(Int(points), account: name) else {
                return Self.error(404, code: 404, "no account \(name ?? "")")
            }
            return Self.json(["left": JSONValue.int(left)])
        }
        router.get("/_sim/files/:job/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            let isVideo = file.hasSuffix(".mp4")
            let bytes = isVideo ? Self.tinyVideo : SimulatorImage.png(job: context.parameters.get("job") ?? "", file: file)
            let headers: HTTPFields = [.contentType: isVideo ? "video/mp4" : "image/png", .contentLength: String(bytes.count)]
            if await self.state.stallsDownloads(of: context.parameters.get("job") ?? "") {
                // Headers go out, the body never does, until the client gives up and closes, the
                // simulator stops, or a minute passes (a half-closed connection stays active).
                let channel = context.channel
                return Response(
                    status: .ok,
                    headers: headers,
                    body: .init { _ in
                        let end = ContinuousClock.now + .seconds(60)
                        while channel.isActive, !Task.isShuttingDownGracefully, ContinuousClock.now < end {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                )
            }
            await self.state.recordFileServed()
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return router
    }

    /// Set by a handler on a response that must not be delivered (the `sim:drop` hook); its value
    /// is the seconds the connection is held before it is closed.
    static let dropMarker = HTTPField.Name("x-legnext-sim-drop")!

    /// The common path of every API request: latency, key, rate limit, injected 500,
    /// then the handler, then a dropped connection or a malformed body if drawn.
    private func api(
        _ request: Request,
        _ context: SimulatorRequestContext,
        route: String,
        handle: (_ account: Int) async -> Response
    ) async throws -> Response {
        if configuration.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(configuration.latencyMilliseconds))
        }
        let response: Response
        var drop = false
        var dropAfter = 0.0
        switch await state.admit(apiKey: request.headers[Self.apiKeyHeader]) {
        case .unauthorized:
            response = Self.error(401, code: 401, "invalid or missing API key")
        case .rateLimited(let seconds):
            var limited = Self.error(429, code: 429, "rate limit exceeded")
            limited.headers[.retryAfter] = String(seconds)
            response = limited
        case .serverError:
            response = Self.error(500, code: 500, "internal server error (simulated)")
        case .proceed(let account, let dropIt, let malformed):
            var handled = await handle(account)
            drop = dropIt || handled.headers[Self.dropMarker] != nil
            dropAfter = handled.headers[Self.dropMarker].flatMap(Double.init) ?? 0
            handled.headers[Self.dropMarker] = nil
            if malformed, handled.status == .ok {
                response = Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: "{\"job_id\": \"truncated"))
                )
            } else {
                response = handled
            }
        }
        await state.count(route: route, status: drop ? "dropped" : String(response.status.code))
        logger.debug("\(route) → \(drop ? "dropped" : String(response.status.code))")
        if drop {
            if dropAfter > 0 { try? await Task.sleep(for: .seconds(dropAfter)) }
            try? await context.channel.close()
        }
        return response
    }

    private func submit(kind: String, request: Request, account: Int) async -> Response {
        var request = request
        guard SimulatorRules.kinds[kind] != nil else { return Self.error(404, code: 404, "no endpoint /v1/\(kind)") }
        guard let buffer = try? await request.collectBody(upTo: 12 << 20) else {
            return Self.error(413, code: 413, "payload too large")
        }
        let data = Data(buffer: buffer)
        // Every endpoint takes JSON, inpaint too (docs, OpenAPI): a form is a body that is not JSON.
        guard let body = (try? JSONValue(data: data))?.objectValue else {
            return Self.error(400, code: 400, "request body must be a JSON object")
        }
        var key = body
        key["callback"] = nil
        var canonical = JSONText()
        canonical.object(key)
        let bodyKey = kind + String(decoding: canonical.bytes, as: UTF8.self)
        do {
            var response = Self.json(try await state.submit(kind: kind, body: body, bodyKey: bodyKey, account: account))
            let hooks = SimulatorHooks(SimulatorRules.text(of: body))
            if hooks.drop { response.headers[Self.dropMarker] = hooks.dropAfter.map { String($0) } ?? "0" }
            return response
        } catch {
            return Self.error(error.status, code: error.code, error.message)
        }
    }

    static func json(_ value: some JSONWritable) -> Response {
        var text = JSONText()
        value.write(to: &text)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: text.bytes)))
    }

    /// An error in Legnext's documented top-level shape.
    static func error(_ status: Int, code: Int, _ message: String) -> Response {
        let body: [String: JSONValue] = ["code": .int(code), "message": .string(message), "raw_message": .string(message), "detail": .null]
        var response = json(body)
        response.status = .init(code: status)
        return response
    }

    static let tinyVideo: [UInt8] = Array("simulated video".utf8)
}
