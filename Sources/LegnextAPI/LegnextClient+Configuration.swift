/// Settings of a ``LegnextClient``.
public struct LegnextClientConfiguration: Sendable {
    /// Legnext's public address; tests and `--simulate` point it at the simulator.
    public static let defaultBaseURL = "https://api.legnext.ai/api"

    /// Base URL without a trailing slash, e.g. `https://api.legnext.ai/api`.
    public var baseURL: String
    public var apiKey: APIKey
    /// Time allowed to establish a connection (the request has not left while connecting).
    public var connectTimeout: Duration
    /// Time allowed for a whole request, from sending to the last byte of the answer.
    public var requestTimeout: Duration
    /// Answers longer than this are an error, never read into memory.
    public var maxResponseBytes: Int
    /// Connections kept to the host; set it to the concurrency of the caller.
    public var maxConnections: Int

    public init(
        baseURL: String = defaultBaseURL,
        apiKey: APIKey,
        connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(30),
        maxResponseBytes: Int = 4 << 20,
        maxConnections: Int = 16
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.apiKey = apiKey
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
        self.maxConnections = maxConnections
    }
}
