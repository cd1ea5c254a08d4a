import Foundation
import LegnextAPI
import QueueSupport
import Synchronization

/// Legnext as a script on a test's clock: each accepted submission is a job that runs for the
/// time `duration` gives its prompt, on a plan of `concurrency` slots (the rest wait `pending`
/// in order, as Legnext queues them), and answers polls from the clock. No network, no I/O.
public final class ScriptedLegnext: LegnextService {
    /// What a POST does besides succeeding.
    public enum SubmitFault: Sendable {
        /// The job is made, and the answer is lost (a connection reset after the request).
        case answerLost
        /// Refused with this HTTP status (400 a job's fault, 402 the account's).
        case refused(Int)
        /// A 5xx, having made nothing: a POST whose fate the daemon cannot know.
        case serverErrorMakingNothing
    }

    private struct RemoteJob {
        var id: String
        var prompt: String
        var createdAt: Date
        var startsAt: Date
        var endsAt: Date
    }

    private struct State {
        var jobs: [String: RemoteJob] = [:]
        var slotsFreeAt: [Date]
        var requests: [String: Int] = [:]
        var posts: [String: Int] = [:]
        var nextId = 1
        /// Times of the requests answered in the last second, for the rate limit.
        var recent: [Date] = []
    }

    private let clock: ManualClock
    private let duration: @Sendable (String) -> TimeInterval
    private let fault: @Sendable (_ prompt: String, _ post: Int) -> SubmitFault?
    private let hasActiveTasks: Bool
    private let rateLimit: Int?
    private let activity: Counter
    private let state: Mutex<State>

    public init(
        clock: ManualClock,
        concurrency: Int = 6,
        activity: Counter = Counter(),
        hasActiveTasks: Bool = false,
        rateLimit: Int? = nil,
        duration: @escaping @Sendable (String) -> TimeInterval,
        fault: @escaping @Sendable (_ prompt: String, _ post: Int) -> SubmitFault? = { _, _ in nil }
    ) {
        self.clock = clock
        self.duration = duration
        self.fault = fault
        self.hasActiveTasks = hasActiveTasks
        self.rateLimit = rateLimit
        self.activity = activity
        state = Mutex(State(slotsFreeAt: Array(repeating: .distantPast, count: concurrency)))
    }

    private var slots: Int { state.withLock { $0.slotsFreeAt.count } }

    /// Jobs Legnext made (and charged).
    public var jobsMade: Int { state.withLock { $0.jobs.count } }
    /// Requests by route.
    public var requests: [String: Int] { state.withLock { $0.requests } }
    /// The most jobs processing at once, over the whole run (from the schedule the plan made).
    public var peakProcessing: Int { peak { ($0.startsAt, $0.endsAt) } }
    /// The most jobs made and not yet ended at once (processing, or waiting `pending`).
    public var peakUnfinished: Int { peak { ($0.createdAt, $0.endsAt) } }

    private func peak(_ span: (RemoteJob) -> (Date, Date)) -> Int {
        let edges = state.withLock { $0.jobs.values.map(span) }.flatMap { [($0.0, 1), ($0.1, -1)] }
        var running = 0
        var peak = 0
        // An end and a start at one moment: the end first (a slot refilled, not two held).
        for (_, step) in edges.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
            running += step
            peak = max(peak, running)
        }
        return peak
    }

    /// Counts a request; false when it is over the rate limit (answered 429, counted as "429").
    private func count(_ route: String) -> Bool {
        activity.add()
        let now = clock.now()
        return state.withLock { state in
            state.requests[route, default: 0] += 1
            guard let rateLimit else { return true }
            state.recent.removeAll { now.timeIntervalSince($0) >= 1 }
            guard state.recent.count < rateLimit else {
                state.requests["429", default: 0] += 1
                return false
            }
            state.recent.append(now)
            return true
        }
    }

    private static func limited<T>() -> LegnextOutcome<T> {
        .rateLimited(retryAfter: .seconds(1), LegnextAPIFailure(httpStatus: 429, error: LegnextErrorInfo(code: 429, message: "too many requests")))
    }

    public func submit(_ request: LegnextRequest) async -> LegnextOutcome<LegnextJob> {
        guard count("POST") else { return Self.limited() }
        let body = request.jsonBody ?? [:]
        let prompt = body["text"]?.stringValue ?? body["prompt"]?.stringValue ?? ""
        let now = clock.now()
        let post = state.withLock { state -> Int in
            state.posts[prompt, default: 0] += 1
            return state.posts[prompt]!
        }
        let fault = fault(prompt, post)
        switch fault {
        case .refused(let status):
            let failure = LegnextAPIFailure(httpStatus: status, error: LegnextErrorInfo(code: status, message: "refused by the script"))
            return status == 401 || status == 402 ? .account(failure) : .rejected(failure)
        case .serverErrorMakingNothing:
            return .transient(TransientFailure(reason: "internal server error", httpStatus: 500, mayHaveReachedServer: true))
        case .answerLost, nil:
            break
        }
        let job = state.withLock { state -> RemoteJob in
            // FIFO over the plan's slots: the job starts when the earliest slot frees.
            let slot = state.slotsFreeAt.indices.min { state.slotsFreeAt[$0] < state.slotsFreeAt[$1] }!
            let starts = max(now, state.slotsFreeAt[slot])
            let job = RemoteJob(id: "job-\(state.nextId)", prompt: prompt, createdAt: now, startsAt: starts, endsAt: starts + duration(prompt))
            state.nextId += 1
            state.slotsFreeAt[slot] = job.endsAt
            state.jobs[job.id] = job
            return job
        }
        if case .answerLost = fault {
            return .transient(TransientFailure(reason: "connection reset by peer", mayHaveReachedServer: true))
        }
        return object(job, at: now)
    }

    public func job(id: String) async -> LegnextOutcome<LegnextJob> {
        guard count("GET job") else { return Self.limited() }
        guard let job = state.withLock({ $0.jobs[id] }) else {
            return .rejected(LegnextAPIFailure(httpStatus: 404, error: LegnextErrorInfo(code: 404, message: "job not found")))
        }
        return object(job, at: clock.now())
    }

    public func balance() async -> LegnextOutcome<LegnextBalance> {
        guard count("GET balance") else { return Self.limited() }
        return (try? LegnextBalance(json: ["data": ["available_points": 1_000_000]])).map { .success($0) }
            ?? .transient(TransientFailure(reason: "unreadable", mayHaveReachedServer: true))
    }

    public func activeTasks() async -> LegnextOutcome<LegnextActiveTasks> {
        guard count("GET active_tasks") else { return Self.limited() }
        guard hasActiveTasks else {
            return .rejected(LegnextAPIFailure(httpStatus: 404, error: LegnextErrorInfo(code: 404, message: "not found")))
        }
        let now = clock.now()
        let running = state.withLock { $0.jobs.values.filter { $0.endsAt > now }.sorted { $0.createdAt < $1.createdAt } }
        let tasks: [JSONValue] = running.map { job in
            let length = job.endsAt.timeIntervalSince(job.startsAt)
            let done = now < job.startsAt ? 0 : now.timeIntervalSince(job.startsAt) / max(length, 0.001)
            return [
                "job_id": .string(job.id), "task_type": "diffusion", "status": now < job.startsAt ? "pending" : "processing",
                "created_at": .string(Timestamp.format(job.createdAt)), "progress": .int(Int(done * 100)),
                // Whole seconds, rounded up, as Legnext's estimates come.
                "estimated_time": .int(Int(job.endsAt.timeIntervalSince(max(now, job.startsAt)).rounded(.up))),
            ]
        }
        do {
            return .success(
                try LegnextActiveTasks(json: ["data": ["total_active": .int(tasks.count), "concurrent_limit": .int(slots), "tasks": .array(tasks)]])
            )
        } catch {
            return .transient(TransientFailure(reason: "the script's active_tasks does not read: \(error)", mayHaveReachedServer: true))
        }
    }

    private func object(_ job: RemoteJob, at now: Date) -> LegnextOutcome<LegnextJob> {
        let status = now < job.startsAt ? "pending" : now < job.endsAt ? "processing" : "completed"
        var meta: [String: JSONValue] = ["created_at": .string(Timestamp.format(job.createdAt))]
        var output: [String: JSONValue] = [:]
        if status == "completed" {
            meta["started_at"] = .string(Timestamp.format(job.startsAt))
            meta["ended_at"] = .string(Timestamp.format(job.endsAt))
            meta["usage"] = ["type": "point", "frozen": 80, "consume": 80]
            output["image_url"] = .string("https://cdn.example.com/\(job.id)/grid.png")
            output["image_urls"] = .array((0..<4).map { .string("https://cdn.example.com/\(job.id)/\($0).png") })
            output["seed"] = "42"
        }
        let json: JSONValue = [
            "job_id": .string(job.id), "status": .string(status), "model": "midjourney", "task_type": "diffusion",
            "input": ["text": .string(job.prompt)], "output": .object(output), "meta": .object(meta),
        ]
        do {
            return .success(try LegnextJob(json: json))
        } catch {
            return .transient(TransientFailure(reason: "the script's Job object does not read: \(error)", mayHaveReachedServer: true))
        }
    }
}
