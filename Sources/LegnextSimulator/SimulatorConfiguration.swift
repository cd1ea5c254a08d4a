import Foundation

/// Knobs of ``LegnextSimulator``: how Legnext behaves, and how it misbehaves.
public struct SimulatorConfiguration: Sendable {
    /// Address to bind; loopback by default.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (read it from ``LegnextSimulator/port``).
    public var port: Int = 0
    /// The key of the first account (`x-api-key`); its plan is `credits`, `rateLimit` and
    /// `concurrency` below.
    public var apiKey: String = "sim-key"
    /// Accounts besides the first, each with its own key, credit, rate and plan: a job belongs
    /// to the account whose key made it, and another key cannot see it.
    public var otherAccounts: [Account] = []
    /// Seed of every random draw; the same seed and request order give the same run.
    public var seed: UInt64 = 1
    /// Points available to spend.
    public var credits: Int = 1_000_000_000
    /// Requests per second per key over a sliding second; 0 = no limit.
    public var rateLimit: Double = 0
    /// Jobs processing at once per key (the rest wait in `pending`); 0 = no limit.
    public var concurrency: Int = 0
    /// Median job duration in seconds (log-normal).
    public var durationMedian: Double = 2
    /// Log-normal sigma of job durations; 0 makes every job last the median.
    public var durationSpread: Double = 0.3
    /// When set, each kind lasts as Legnext documents it (``documentedSeconds(of:)``), times this
    /// factor: 0.01 runs a 60 s diffusion in 0.6 s and keeps every ratio between kinds.
    /// `durationMedian` and `durationSpread` are then unused.
    public var timeScale: Double?
    /// Share of jobs that end `failed` with an error object.
    public var failRate: Double = 0
    /// Share of requests answered 500 before anything is done.
    public var errorRate: Double = 0
    /// Share of requests handled (a POST creates its job) whose connection is then closed without an answer.
    public var dropRate: Double = 0
    /// Added to every answer, in milliseconds.
    public var latencyMilliseconds: Int = 0
    /// Share of requests answered 200 with a body that is not JSON.
    public var malformedRate: Double = 0
    /// Attempts to deliver each callback.
    public var callbackAttempts: Int = 3
    /// The account's webhook secret: callbacks then carry `X-Legnext-Timestamp` and
    /// `X-Legnext-Signature` (hex HMAC-SHA256 of `timestamp.body`), the scheme the SDK verifies.
    public var webhookSecret: Data?
    /// Serves `GET /account/active_tasks` (only `openapi-complete.yaml` documents it; off, it answers 404).
    public var activeTasks = true
    /// The address clients reach this simulator at, for output URLs; defaults to `http://host:port`.
    public var publicBaseURL: String?

    public init() {}

    /// One Legnext account: its key and its own plan, as Legnext meters each account apart.
    public struct Account: Sendable, Hashable {
        public var name: String
        public var apiKey: String
        /// Points available to spend.
        public var credits: Int
        /// Jobs processing at once (the rest wait in `pending`); 0 = no limit.
        public var concurrency: Int
        /// Requests per second over a sliding second; 0 = no limit.
        public var rateLimit: Double

        public init(name: String, apiKey: String, credits: Int = 1_000_000_000, concurrency: Int = 0, rateLimit: Double = 0) {
            self.name = name
            self.apiKey = apiKey
            self.credits = credits
            self.concurrency = concurrency
            self.rateLimit = rateLimit
        }

        /// `name=b,key=sim-key-b,credits=800,concurrency=6,rate=5` (only name and key required).
        public init(parsing text: String) throws(AccountError) {
            var fields: [String: String] = [:]
            for part in text.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, !pair[1].isEmpty else { throw AccountError(text: text, why: "\(part) is not name=value") }
                fields[pair[0]] = pair[1]
            }
            guard let name = fields.removeValue(forKey: "name"), let key = fields.removeValue(forKey: "key") else {
                throw AccountError(text: text, why: "name= and key= are required")
            }
            self.init(name: name, apiKey: key)
            if let value = fields.removeValue(forKey: "credits") {
                guard let credits = Int(value), credits >= 0 else { throw AccountError(text: text, why: "credits must be a whole number ≥ 0") }
                self.credits = credits
            }
            if let value = fields.removeValue(forKey: "concurrency") {
                guard let concurrency = Int(value), concurrency >= 0 else {
                    throw AccountError(text: text, why: "concurrency must be a whole number ≥ 0")
                }
                self.concurrency = concurrency
            }
            if let value = fields.removeValue(forKey: "rate") {
                guard let rate = Double(value), rate >= 0, rate <= 1e9 else {
                    throw AccountError(text: text, why: "rate must be a number from 0 to 1e9")
                }
                rateLimit = rate
            }
            if let unknown = fields.keys.sorted().first {
                throw AccountError(text: text, why: "\(unknown)= is not one of name, key, credits, concurrency, rate")
            }
        }
    }

    public struct AccountError: Error, CustomStringConvertible {
        public var text: String
        public var why: String
        public var description: String { "--account \(text): \(why)" }
    }

    /// Every account, the first made of `apiKey`, `credits`, `concurrency` and `rateLimit`.
    public var accounts: [Account] {
        [Account(name: "default", apiKey: apiKey, credits: credits, concurrency: concurrency, rateLimit: rateLimit)] + otherAccounts
    }

    /// Typical durations in seconds, from the OpenAPI description: diffusion 30–90 s; variation,
    /// reroll, blend 60–90 s; upscale, pan, outpaint, inpaint, remix, edit 90–120 s; describe
    /// 30–60 s; shorten 20–40 s; video-diffusion, extend-video 3–5 min; video-upscale 4–6 min.
    public static func documentedSeconds(of kind: String) -> ClosedRange<Double> {
        switch kind {
        case "diffusion", "retexture", "remove-background", "enhance", "upload-paint": 30...90
        case "variation", "reroll", "blend": 60...90
        case "upscale", "pan", "outpaint", "inpaint", "remix", "edit": 90...120
        case "describe": 30...60
        case "shorten": 20...40
        case "video-diffusion", "extend-video": 180...300
        case "video-upscale": 240...360
        default: 30...90
        }
    }

    /// The log-normal median and sigma whose central 90 % spans `range`.
    public static func logNormal(spanning range: ClosedRange<Double>) -> (median: Double, sigma: Double) {
        let median = (range.lowerBound * range.upperBound).squareRoot()
        return (median, log(range.upperBound / range.lowerBound) / (2 * 1.645))
    }

    /// Points a submission of `kind` freezes.
    public static func cost(of kind: String) -> Int {
        switch kind {
        // Documented: diffusion 80, describe 20, retexture 120, video-upscale 480; the rest guessed.
        case "upscale", "remove-background", "enhance": 40
        case "describe", "shorten": 20
        case "retexture": 120
        case "video-diffusion", "extend-video": 400
        case "video-upscale": 480
        default: 80
        }
    }
}
