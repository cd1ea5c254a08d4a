import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import QueueSupport
import Synchronization

/// The Legnext HTTP client: typed requests in, a small closed set of outcomes out.
/// The API key goes only into the `x-api-key` header; it is in no log line and no error.
public final class LegnextClient: LegnextService {
    public let configuration: LegnextClientConfiguration
    private let http: HTTPClient
    private let logger: Logger
    /// The key sent; starts as the configuration's, replaced by ``useKey(_:)``.
    private let key: Mutex<APIKey>

    public init(configuration: LegnextClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.key = Mutex(configuration.apiKey)
        var http = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.requestTimeout)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections)
        )
        http.httpVersion = .automatic
        // No spans: nothing here installs a tracer, and the default no-op one still wraps every request.
        http.tracing.tracer = nil
        self.http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: http)
    }

    /// Closes the connections. Call once, before the client is dropped.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    public func submit(_ request: LegnextRequest) async -> LegnextOutcome<LegnextJob> {
        let body: ByteBuffer
        let contentType: String
        do {
            (body, contentType) = try request.encodedBody()
        } catch {
            return .rejected(.init(httpStatus: 0, error: .init(code: nil, message: "cannot encode the request: \(error)")))
        }
        return await call(method: .POST, path: request.kind.path, body: body, contentType: contentType, decode: LegnextJob.init(json:))
    }

    public func job(id: String) async -> LegnextOutcome<LegnextJob> {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id
        return await call(method: .GET, path: "/v1/job/\(escaped)", body: nil, contentType: nil, decode: LegnextJob.init(json:))
    }

    public func useKey(_ key: APIKey) {
        self.key.withLock { $0 = key }
    }

    public func activeTasks() async -> LegnextOutcome<LegnextActiveTasks> {
        await call(method: .GET, path: "/account/active_tasks", body: nil, contentType: nil, decode: LegnextActiveTasks.init(json:))
    }

    public func balance() async -> LegnextOutcome<LegnextBalance> {
        await call(method: .GET, path: "/account/balance", body: nil, contentType: nil, decode: LegnextBalance.init(json:))
    }

    private func call<Value: Sendable>(
        method: HTTPMethod,
        path: String,
        body: ByteBuffer?,
        contentType: String?,
        decode: (JSONValue) throws(LegnextDecodingError) -> Value
    ) async -> LegnextOutcome<Value> {
        var request = HTTPClientRequest(url: configuration.baseURL + path)
        request.method = method
        request.headers.add(name: "x-api-key", value: key.withLock { $0.value })
        request.headers.add(name: "accept", value: "application/json")
        request.headers.add(name: "user-agent", value: "legnext-queue")
        if let body, let contentType {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(body)
        }
        let started = ContinuousClock.now
        let status: Int
        let headers: HTTPHeaders
        let data: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: .init(configuration.requestTimeout), logger: nil)
            status = Int(response.status.code)
            headers = response.headers
            data = try await response.body.collect(upTo: configuration.maxResponseBytes)
        } catch {
            let failure = Self.classify(error, maxBytes: configuration.maxResponseBytes)
            logger.debug("\(method) \(path) failed: \(failure)", metadata: ["lnq.http.ms": "\(started.duration(to: .now).milliseconds)"])
            return .transient(failure)
        }
        logger.debug("\(method) \(path) → \(status)", metadata: ["lnq.http.ms": "\(started.duration(to: .now).milliseconds)"])
        let bytes = Data(buffer: data)
        switch status {
        case 200..<300:
            do {
                let json: JSONValue
                do {
                    json = try JSONValue(data: bytes)
                } catch {
                    throw LegnextDecodingError.notJSON(String(decoding: bytes.prefix(120), as: UTF8.self))
                }
                return .success(try decode(json))
            } catch {
                // A POST answered 200 may have created the job even though its answer is unreadable.
                return .transient(.init(reason: "unreadable answer: \(error)", httpStatus: status, mayHaveReachedServer: true))
            }
        case 429:
            return .rateLimited(retryAfter: Self.retryAfter(headers), Self.apiFailure(status, bytes))
        case 401, 402:
            return .account(Self.apiFailure(status, bytes))
        case 408, 500..<600:
            let failure = Self.apiFailure(status, bytes)
            return .transient(.init(reason: failure.error.summary, httpStatus: status, mayHaveReachedServer: true))
        default:
            return .rejected(Self.apiFailure(status, bytes))
        }
    }

    /// Reads an error body in either documented shape: `{code, message, ...}` at top level, or
    /// inside `{"error": {...}}`. Anything else becomes the status's usual meaning.
    static func apiFailure(_ status: Int, _ body: Data) -> LegnextAPIFailure {
        let json = try? JSONValue(data: body)
        if let info = LegnextErrorInfo(json?["error"]) ?? LegnextErrorInfo(json), !info.message.isEmpty {
            return LegnextAPIFailure(httpStatus: status, error: info)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let message = text.isEmpty || json != nil ? HTTPResponseStatus(statusCode: status).reasonPhrase : text
        return LegnextAPIFailure(httpStatus: status, error: .init(code: status, message: message))
    }

    /// `Retry-After` as seconds or as an HTTP date.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let value = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }

    /// Network errors: only a connection that was never made proves the request did not leave.
    static func classify(_ error: any Error, maxBytes: Int) -> TransientFailure {
        if error is NIOTooManyBytesError {
            return .init(reason: "the answer is larger than \(maxBytes) bytes", mayHaveReachedServer: true)
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout, .invalidURL, .emptyHost, .emptyScheme,
                .alreadyShutdown, .httpProxyHandshakeTimeout, .socksHandshakeTimeout:
                return .init(reason: "could not connect (\(error))", mayHaveReachedServer: false)
            case .readTimeout, .deadlineExceeded:
                return .init(reason: "no answer in time (\(error))", mayHaveReachedServer: true)
            case .remoteConnectionClosed:
                return .init(reason: "the connection closed before an answer", mayHaveReachedServer: true)
            default:
                return .init(reason: "\(error)", mayHaveReachedServer: true)
            }
        }
        if error is NIOConnectionError || error is ChannelError && "\(error)".contains("connectTimeout") {
            return .init(reason: "could not connect (\(error))", mayHaveReachedServer: false)
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL:
                return .init(reason: "could not connect (\(error))", mayHaveReachedServer: false)
            case EMFILE, ENFILE:
                // Only a new descriptor (socket(), accept()) fails so: no connection, nothing sent.
                return .init(reason: "out of file descriptors, nothing sent (\(error)); raise `ulimit -n` / LimitNOFILE", mayHaveReachedServer: false)
            default:
                return .init(reason: "\(error)", mayHaveReachedServer: true)
            }
        }
        return .init(reason: "\(error)", mayHaveReachedServer: true)
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
