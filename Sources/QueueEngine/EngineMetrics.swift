import CoreMetrics
import Foundation
import LegnextAPI

/// What the engine reports through swift-metrics, each with the Legnext account it concerns.
/// Without a metrics backend bootstrapped (`--metrics-listen` off) each call is a no-op.
public enum EngineMetrics {
    public static let requests = "legnext_queue_requests_total"
    public static let rateLimited = "legnext_queue_rate_limited_total"
    public static let credits = "legnext_queue_credits_consumed_total"
    public static let jobsFinished = "legnext_queue_jobs_finished_total"
    public static let jobDuration = "legnext_queue_job_duration_seconds"
    public static let pollLag = "legnext_queue_completion_lag_seconds"
    public static let inFlight = "legnext_queue_in_flight"
    public static let concurrency = "legnext_queue_concurrency_limit"
    public static let rate = "legnext_queue_request_rate"
    public static let paused = "legnext_queue_paused"

    /// One request to Legnext and how it ended (`200`, `429`, `500`, `no-answer`, `not-sent`).
    static func request<Value>(account: String, _ endpoint: String, _ outcome: LegnextOutcome<Value>) {
        let status: String
        switch outcome {
        case .success: status = "200"
        case .rejected(let failure), .account(let failure): status = String(failure.httpStatus)
        case .rateLimited: status = "429"
        case .transient(let failure): status = failure.httpStatus.map(String.init) ?? (failure.mayHaveReachedServer ? "no-answer" : "not-sent")
        }
        Counter(label: requests, dimensions: [("account", account), ("endpoint", endpoint), ("status", status)]).increment()
        if case .rateLimited = outcome { Counter(label: rateLimited, dimensions: [("account", account)]).increment() }
    }

    /// A job reached the end at Legnext. `duration` is Legnext's own (creation to end), `lag`
    /// how long after its end we learnt of it.
    static func finished(account: String, state: String, kind: String, duration: TimeInterval?, lag: TimeInterval?, credits: Int?) {
        Counter(label: jobsFinished, dimensions: [("account", account), ("state", state), ("kind", kind)]).increment()
        if let duration, duration >= 0 { CoreMetrics.Timer(label: jobDuration).recordSeconds(duration) }
        if let lag, lag >= 0 { CoreMetrics.Timer(label: pollLag).recordSeconds(lag) }
        if let credits, credits > 0 { Counter(label: self.credits, dimensions: [("account", account)]).increment(by: credits) }
    }

    static func gauges(account: String, inFlight: Int, concurrency: Int, rate: Double?, paused: Bool) {
        let dimensions = [("account", account)]
        Gauge(label: self.inFlight, dimensions: dimensions).record(inFlight)
        Gauge(label: self.concurrency, dimensions: dimensions).record(concurrency)
        if let rate { Gauge(label: self.rate, dimensions: dimensions).record(rate) }
        Gauge(label: self.paused, dimensions: dimensions).record(paused ? 1 : 0)
    }
}
