import Foundation
import HTTPTypes
import Hummingbird
import Logging
import QueueHTTP
import QueueStore
import QueueSupport
import ServiceLifecycle

/// Where and how the console listens.
public struct ConsoleConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Required of every request when set (and required off loopback).
    public var token: String?
    /// Where the daemon saves outputs: files are served only from under it.
    public var outputDirectory: String?
    public var pageSize = 50
    /// Reads what is left at Legnext for the overview; nil without a key.
    public var balance: BalanceReader?
    /// The console's clock: when sign-ins run out, sign-in tries come back, counts go stale.
    public var now: @Sendable () -> Date = Date.init

    public init(host: String, port: Int, token: String? = nil, outputDirectory: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
        self.outputDirectory = outputDirectory
    }

    /// Whether `host` is a loopback address (only this machine can reach it).
    public static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        return inet_pton(AF_INET6, name, &v6) == 1 && name == "::1"
    }
}

/// The web console: the queue's state, its jobs, the downloaded images and the actions on
/// them, served with Hummingbird from the queue database (daemon running or not). Pages
/// update themselves through Server-Sent Events when the database changes.
public struct ConsoleServer: Service {
    let store: QueueStore
    let configuration: ConsoleConfiguration
    let logger: Logger
    let templates: ConsoleTemplates
    let security: ConsoleSecurity
    let feed = ChangeFeed()
    let tagCache: TagProgressCache
    let thumbnails = ThumbnailCache(limit: 64 << 20)
    private let boundPort = Promised<Int?>()

    public init(store: QueueStore, configuration: ConsoleConfiguration, logger: Logger) throws {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        templates = try ConsoleTemplates()
        security = ConsoleSecurity(token: configuration.token, listenHost: configuration.host, now: configuration.now)
        tagCache = TagProgressCache(now: configuration.now)
    }

    /// The port it listens on once it does, or nil if it could not.
    public func port() async -> Int? { await boundPort.value() }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await watchChanges() }
                group.addTask {
                    let router = Router(context: ConsoleRequestContext.self)
                    router.middlewares.add(SecurityMiddleware(security: security, logger: logger))
                    addRoutes(to: router)
                    try await HTTPListener.run(
                        router,
                        host: configuration.host,
                        port: configuration.port,
                        bound: boundPort,
                        serving: "console",
                        failing: "serve the console",
                        path: "/",
                        logger: logger,
                        serverLogger: logger
                    )
                }
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Open event streams end, so the server's graceful shutdown does not wait on them.
            feed.close()
        }
        await configuration.balance?.shutdown()
    }

    /// Publishes each change to the database (any process's) to the open pages.
    private func watchChanges() async {
        guard let changes = store.externalChanges() else {
            logger.notice("console: cannot watch the database for changes (no inotify); pages refresh every 5 s")
            while !Task.isCancelled, !feed.isClosed {
                try? await Task.sleep(for: .seconds(5))
                feed.publish()
            }
            return
        }
        for await _ in changes {
            if feed.isClosed { break }
            feed.publish()
        }
    }

    private func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/") { request, _ in try await overview(request) }
        router.get("/jobs") { request, _ in try await jobs(request) }
        router.get("/jobs/:id") { request, context in try await job(request, id: try context.parameters.require("id", as: Int64.self)) }
        router.get("/jobs/:id/outputs/:kind/:index") { request, context in
            try await image(
                request,
                id: try context.parameters.require("id", as: Int64.self),
                kind: try context.parameters.require("kind"),
                index: try context.parameters.require("index", as: Int.self)
            )
        }
        router.get("/gallery") { request, _ in try await gallery(request) }
        router.get("/files/:id/:kind/:index") { request, context in
            try await file(
                request,
                id: try context.parameters.require("id", as: Int64.self),
                kind: try context.parameters.require("kind"),
                index: try context.parameters.require("index", as: Int.self)
            )
        }
        router.get("/thumbs/:id/:kind/:index") { request, context in
            try await thumbnail(
                request,
                id: try context.parameters.require("id", as: Int64.self),
                kind: try context.parameters.require("kind"),
                index: try context.parameters.require("index", as: Int.self)
            )
        }
        router.get("/events") { _, _ in events() }
        router.get("/console.css") { _, _ in asset(ConsoleTemplates.stylesheet, type: "text/css; charset=utf-8") }
        router.get("/console.js") { _, _ in asset(ConsoleTemplates.script, type: "text/javascript; charset=utf-8") }
        router.get("/login") { request, _ in loginPage(request, failed: false) }
        router.post("/login") { request, context in try await login(request, client: context.client) }
        router.post("/logout") { request, _ in try await logout(request) }
        router.post("/enqueue") { request, _ in try await enqueue(request) }
        router.post("/jobs/:id/cancel") { request, context in try await cancel(request, id: try context.parameters.require("id", as: Int64.self)) }
        router.post("/jobs/:id/retry") { request, context in try await retry(request, id: try context.parameters.require("id", as: Int64.self)) }
        router.post("/retry-failed") { request, _ in try await retryFailed(request) }
        router.post("/jobs/:id/follow-up") { request, context in
            try await followUp(request, id: try context.parameters.require("id", as: Int64.self))
        }
    }

    func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }
}

/// Refuses requests the console must not answer (see ``ConsoleSecurity``) and sets the
/// headers every answer carries.
struct SecurityMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext
    let security: ConsoleSecurity
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        switch await security.refusal(request, client: context.client) {
        case .none:
            response = try await next(request, context)
        case .signIn:
            let open = ["/login", "/console.css"]
            if open.contains(request.uri.path) {
                response = try await next(request, context)
            } else if request.method == .get, request.headers[.accept]?.contains("text/html") ?? false {
                let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                response = Response(status: .seeOther, headers: [.location: "/login?next=" + ConsoleFormat.queryValue(target)])
            } else {
                response = Response(
                    status: .unauthorized,
                    headers: [.contentType: "text/plain; charset=utf-8", .wwwAuthenticate: "Bearer"],
                    body: .init(
                        byteBuffer: ByteBuffer(
                            string:
                                "sign in first: this console needs the token of --ui-token-file (cookie from /login, or Authorization: Bearer TOKEN)\n"
                        )
                    )
                )
            }
        case .throttled(let wait):
            let seconds = wait.components.seconds
            response = Response(
                status: .tooManyRequests,
                headers: [.contentType: "text/plain; charset=utf-8", .retryAfter: String(seconds)],
                body: .init(byteBuffer: ByteBuffer(string: "too many wrong tokens from this address: try again in \(seconds) s\n"))
            )
        case .wrongHost:
            response = Response(
                status: .misdirectedRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string:
                            "this console answers only as 127.0.0.1, localhost or [::1]: open it by that address (to use another name, give it --ui-token-file)\n"
                    )
                )
            )
        }
        // A file keeps its own (sandbox); a page gets the console's.
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = Self.policy
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "same-origin"
        response.headers[Self.frameOptions] = "DENY"
        return response
    }

    static let policy =
        "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
}
