import Foundation
import HeapModule
import QueueSupport

/// Everything the simulator knows: jobs, the credit ledger, the rate window and the stats.
/// One actor, so draws from the seeded generator follow request order.
actor SimulatorState {
    let config: SimulatorConfiguration
    private var rng: SimulatorRandom
    /// The noise of `active_tasks` estimates, drawn apart: how often a client looks must not
    /// change the lengths the seed gives the jobs.
    private var estimateNoise: SimulatorRandom
    private let startInstant = ContinuousClock.now
    private let startDate = Date()
    var publicBaseURL: String

    private var jobs: [String: SimulatorJob] = [:]
    /// Each account's credit, slots and rate window, by its number (0 the first).
    private var ledgers: [AccountLedger]
    private let accountByKey: [String: Int]
    /// Starts and ends still to happen, soonest first: a request costs O(log n), not a scan of
    /// every running job.
    private var timeline = Heap<TimelineEvent>()

    private var requests: [String: [String: Int]] = [:]
    private var jobsCreated = 0
    private var duplicates = 0
    private var bodies: Set<String> = []
    /// 500s served so far to each body carrying `sim:post-errors=N`.
    private var postErrorsServed: [String: Int] = [:]
    private var durationSum = 0.0
    /// Σ (end − creation) of finished jobs: each job's length as its own timestamps show it,
    /// including the moments in `pending` before processing starts.
    private var jobTimeSum = 0.0
    /// Each job's time in a slot (its start-up moment and its run), in the order jobs were
    /// created: what a clairvoyant dispatcher would schedule (`/_sim/job-lengths`).
    private var jobLengths: [Double] = []
    private var inFlight = 0
    private var peakInFlight = 0
    private var processing = 0
    private var peakProcessing = 0
    private var completed = 0
    private var failed = 0
    private var dropped = 0
    private var injectedErrors = 0
    private var malformed = 0
    private var callbacksSent = 0
    /// Output files served, so a test can prove each was fetched once.
    private var filesServed = 0
    private var callbacksFailed = 0

    /// Callbacks to deliver, handed to the sender.
    private var outbox: [(url: String, body: Data)] = []
    let outboxSignal: Wakeup
    let timerSignal: Wakeup

    init(config: SimulatorConfiguration, outboxSignal: Wakeup, timerSignal: Wakeup) {
        self.config = config
        self.rng = SimulatorRandom(seed: config.seed)
        self.estimateNoise = SimulatorRandom(seed: config.seed ^ 0x9E37_79B9_7F4A_7C15)
        ledgers = config.accounts.map { AccountLedger(account: $0) }
        var byKey: [String: Int] = [:]
        for (number, account) in config.accounts.enumerated() where byKey[account.apiKey] == nil { byKey[account.apiKey] = number }
        accountByKey = byKey
        self.publicBaseURL = config.publicBaseURL ?? "http://\(config.host):\(config.port)"
        self.outboxSignal = outboxSignal
        self.timerSignal = timerSignal
    }

    func setPublicBaseURL(_ url: String) { publicBaseURL = url }

    /// Seconds since the simulator started.
    func now() -> Double {
        let elapsed = startInstant.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    // MARK: Admission

    /// What happens to a request before it is handled.
    enum Admission {
        /// `account`: the number of the account whose key it carries.
        case proceed(account: Int, drop: Bool, malformed: Bool)
        case unauthorized
        case rateLimited(retryAfterSeconds: Int)
        case serverError
    }

    func admit(apiKey: String?) -> Admission {
        guard let apiKey, let number = accountByKey[apiKey] else { return .unauthorized }
        if let wait = ledgers[number].admit(at: now()) { return .rateLimited(retryAfterSeconds: wait) }
        if rng.chance(config.errorRate) {
            injectedErrors += 1
            return .serverError
        }
        let drop = rng.chance(config.dropRate)
        let malformed = rng.chance(config.malformedRate)
        if drop { dropped += 1 } else if malformed { self.malformed += 1 }
        return .proceed(account: number, drop: drop, malformed: malformed)
    }

    func count(route: String, status: String) {
        requests[route, default: [:]][status, default: 0] += 1
    }

    // MARK: Jobs

    /// A refusal of a submission: HTTP status and message.
    struct Refusal: Error {
        var status: Int
        var code: Int
        var message: String
    }

    func submit(kind: String, body: [String: JSONValue], bodyKey: String, account: Int = 0) throws(Refusal) -> JobObject {
        let t = now()
        advance(to: t)
        let hooks = SimulatorHooks(SimulatorRules.text(of: body))
        if let status = hooks.reject {
            let message = status == 403 ? "sensitive content detected" : "invalid request (simulated)"
            throw Refusal(status: status, code: status, message: message)
        }
        if hooks.postErrors > postErrorsServed[bodyKey, default: 0] {
            postErrorsServed[bodyKey, default: 0] += 1
            injectedErrors += 1
            throw Refusal(status: 500, code: 500, message: "internal server error (simulated: sim:post-errors)")
        }
        let parent: String?
        do {
            parent = try SimulatorRules.check(kind: kind, body: body)
        } catch {
            throw Refusal(status: error.status, code: error.status, message: error.message)
        }
        var parentJob: SimulatorJob?
        if let parent {
            guard UUID(uuidString: parent) != nil else { throw Refusal(status: 400, code: 400, message: "jobId must be a job id (a UUID)") }
            // A job id belongs to the account that made it.
            guard let found = jobs[parent], found.account == account else {
                throw Refusal(status: 400, code: 400, message: "job \(parent) not found")
            }
            guard found.status(at: t) == "completed" else {
                throw Refusal(status: 400, code: 400, message: "job \(parent) is not completed")
            }
            do throws(SimulatorRules.Violation) {
                try SimulatorRules.checkParent(kind: kind, parent: found)
            } catch {
                throw Refusal(status: error.status, code: error.status, message: error.message)
            }
            parentJob = found
        }
        let cost = SimulatorConfiguration.cost(of: kind)
        guard ledgers[account].available >= cost else {
            throw Refusal(status: 402, code: 402, message: "insufficient credits: \(cost) points needed, \(ledgers[account].available) available")
        }
        ledgers[account].available -= cost
        ledgers[account].frozen += cost
        let drawn: Double
        if let scale = config.timeScale {
            let shape = SimulatorConfiguration.logNormal(spanning: SimulatorConfiguration.documentedSeconds(of: kind))
            drawn = rng.logNormal(median: shape.median, sigma: shape.sigma) * scale
        } else {
            drawn = rng.logNormal(median: config.durationMedian, sigma: config.durationSpread)
        }
        let duration = max(0, hooks.duration ?? drawn)
        let willFail = hooks.fail || rng.chance(config.failRate)
        let id = makeId()
        var callback: String?
        if case .string(let url) = body["callback"], !url.isEmpty { callback = url }
        var job = SimulatorJob(
            id: id,
            kind: kind,
            account: account,
            input: body,
            cost: cost,
            callback: callback,
            createdAt: t,
            duration: duration,
            willFail: willFail,
            seed: UInt32(truncatingIfNeeded: rng.next())
        )
        job.draft = (parentJob?.draft ?? false) || SimulatorRules.text(of: body).split(separator: " ").contains("--draft")
        if kind == "extend-video" { job.extensions = (parentJob?.extensions ?? 0) + 1 }
        job.getErrorsLeft = hooks.getErrors
        jobsCreated += 1
        ledgers[account].jobsCreated += 1
        if !bodies.insert(bodyKey).inserted { duplicates += 1 }
        durationSum += duration
        jobLengths.append(SimulatorJob.startUp(duration) + duration)
        inFlight += 1
        peakInFlight = max(peakInFlight, inFlight)
        jobs[id] = job
        if ledgers[account].hasFreeSlot {
            occupySlot(id, from: t)
        } else {
            ledgers[account].waiting.append(id)
        }
        timerSignal.signal()
        return object(jobs[id]!, at: t)
    }

    /// The job object, or `.failure` when a `sim:get-errors` hook answers this GET with a 500;
    /// nil when `account` made no job `id`.
    func job(id: String, account: Int = 0) -> Result<JobObject, Refusal>? {
        let t = now()
        advance(to: t)
        guard let job = jobs[id], job.account == account else { return nil }
        if job.getErrorsLeft > 0 {
            jobs[id]?.getErrorsLeft -= 1
            injectedErrors += 1
            return .failure(Refusal(status: 500, code: 500, message: "internal server error (simulated: sim:get-errors)"))
        }
        return .success(object(job, at: t))
    }

    /// Adds `points` to the account named `name` (the first without one); nil for an unknown name.
    func addCredits(_ points: Int, account name: String? = nil) -> Int? {
        guard let number = name.map({ name in ledgers.firstIndex { $0.account.name == name } }) ?? 0 else { return nil }
        ledgers[number].available = min(AccountLedger.maxPoints, max(-AccountLedger.maxPoints, ledgers[number].available + points))
        return ledgers[number].available
    }

    func balance(account: Int = 0) -> [String: JSONValue] {
        let available = ledgers[account].available
        return [
            "account_id": .int(1001 + account), "balance_usd": .double(Double(available) / 1000),
            "available_credits": .int(available), "available_points": .int(available),
            "alert_threshold": .int(0), "low_balance_alert": .bool(false),
            "updated_at": .string(Self.stamp(Date())),
        ]
    }

    /// Moves every job whose next change is due by `t`, in time order; queues callbacks.
    /// Returns the time of the next change, if any.
    @discardableResult
    func advance(to t: Double) -> Double? {
        while let event = timeline.min, event.at <= t {
            timeline.removeMin()
            switch event.change {
            case .start: start(event.id, at: event.at)
            case .end: finish(event.id, at: event.at)
            }
        }
        return timeline.min?.at
    }

    /// Gives `id` a concurrency slot from `t` and schedules its start and end.
    private func occupySlot(_ id: String, from t: Double) {
        guard var job = jobs[id] else { return }
        job.startAt = t + SimulatorJob.startUp(job.duration)
        jobs[id] = job
        ledgers[job.account].running.insert(id)
        timeline.insert(TimelineEvent(at: job.startAt!, change: .start, id: id))
        timeline.insert(TimelineEvent(at: job.endAt!, change: .end, id: id))
    }

    private func start(_ id: String, at t: Double) {
        guard var job = jobs[id], !job.announcedProcessing else { return }
        job.announcedProcessing = true
        jobs[id] = job
        processing += 1
        peakProcessing = max(peakProcessing, processing)
        ledgers[job.account].processing += 1
        ledgers[job.account].peakProcessing = max(ledgers[job.account].peakProcessing, ledgers[job.account].processing)
        enqueueCallback(job, at: t)
    }

    private func finish(_ id: String, at end: Double) {
        guard var job = jobs[id] else { return }
        processing -= 1
        job.finished = true
        jobs[id] = job
        jobTimeSum += end - job.createdAt
        inFlight -= 1
        ledgers[job.account].finish(job)
        if job.willFail { failed += 1 } else { completed += 1 }
        enqueueCallback(job, at: end)
        if let nextId = ledgers[job.account].nextWaiting() { occupySlot(nextId, from: end) }
    }

    private func enqueueCallback(_ job: SimulatorJob, at t: Double) {
        guard let url = job.callback else { return }
        var body = JSONText()
        object(job, at: t).write(to: &body)
        outbox.append((url, Data(body.bytes)))
        outboxSignal.signal()
    }

    func takeCallbacks() -> [(url: String, body: Data)] {
        defer { outbox.removeAll() }
        return outbox
    }

    func recordFileServed() { filesServed += 1 }

    /// `GET /account/active_tasks` (openapi-complete.yaml): every job not yet finished, with
    /// progress and a noisy estimate of the seconds left, as real estimates are. A scan of
    /// the jobs: a client asks now and then, not per job.
    func activeTasks(account: Int = 0) -> [String: JSONValue] {
        let t = now()
        advance(to: t)
        var tasks: [JSONValue] = []
        for job in jobs.values.sorted(by: { $0.createdAt < $1.createdAt }) where job.account == account {
            let status = job.status(at: t)
            guard status == "pending" || status == "processing" else { continue }
            var progress = 0.0
            var left = job.duration
            if let start = job.startAt, start <= t {
                progress = job.duration > 0 ? min(99, (t - start) / job.duration * 100) : 99
                left = max(0, start + job.duration - t)
            }
            tasks.append(
                .object([
                    "job_id": .string(job.id), "task_type": .string(job.kind), "status": .string(status),
                    "created_at": .string(Self.stamp(date(job.createdAt))), "progress": .int(Int(progress.rounded())),
                    "estimated_time": .int(Int((left * estimateNoise.logNormal(median: 1, sigma: 0.25)).rounded(.up))),
                ])
            )
        }
        return [
            "account_id": .string(Self.accountUUID(account)), "total_active": .int(tasks.count),
            "concurrent_limit": .int(ledgers[account].account.concurrency), "tasks": .array(tasks),
            "updated_at": .string(Self.stamp(date(t))),
        ]
    }

    /// `GET /account/info` (openapi-complete.yaml's AccountInfo).
    func accountInfo(account: Int = 0) -> [String: JSONValue] {
        let ledger = ledgers[account]
        return [
            "account_id": .string(Self.accountUUID(account)),
            "email": .string(account == 0 ? "sim@example.com" : "\(ledger.account.name)@sim.example"), "plan": .string("pro"),
            "balance": .int(ledger.available), "used": .int(ledger.consumed),
            "quota": .object(["monthly_limit": .int(33_000), "remaining": .int(ledger.available), "reset_at": .string(Self.stamp(startDate))]),
            "status": .string("active"), "created_at": .string(Self.stamp(startDate)), "updated_at": .string(Self.stamp(Date())),
        ]
    }

    /// The account endpoints disagree on the id's type (balance: an integer; active tasks and
    /// info: a UUID), and the simulator answers each as its schema says.
    static func accountUUID(_ account: Int) -> String {
        "5e1d7a3c-0b2f-4c1e-9a6d-" + String(0x1f2e_3d4c_5b6a + account, radix: 16)
    }

    /// Whether the files of job `id` stall after their headers (`sim:stall-download`).
    func stallsDownloads(of id: String) -> Bool {
        jobs[id].map { SimulatorHooks(SimulatorRules.text(of: $0.input)).stallDownload } ?? false
    }

    func recordCallback(delivered: Bool) {
        if delivered { callbacksSent += 1 } else { callbacksFailed += 1 }
    }

    /// A UUID-shaped id (version 4, variant a) drawn from the seeded generator, so runs repeat.
    private func makeId() -> String {
        let words = [rng.next(), rng.next()]
        var text = [UInt8]()
        text.reserveCapacity(36)
        for nibble in 0..<32 {
            if [8, 12, 16, 20].contains(nibble) { text.append(UInt8(ascii: "-")) }
            let value = Int(words[nibble / 16] >> UInt64(60 - 4 * (nibble % 16)) & 0xF)
            switch nibble {
            case 12: text.append(UInt8(ascii: "4"))
            case 16: text.append(UInt8(ascii: "a"))
            default: text.append(Self.hexDigits[value])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private func date(_ t: Double) -> Date { startDate.addingTimeInterval(t) }

    static func stamp(_ date: Date) -> String { Timestamp.format(date) }

    private static let zeroTime = "0001-01-01T00:00:00Z"

    /// A finished image job's follow-ups, as a real diffusion's answer shows them
    /// (legnext-ai/sdks docs/SDK_TEST_RESULTS.md): image numbers per action, `reroll` a boolean.
    static let imageActions: [String: JSONValue] = {
        let all = JSONValue.array((0..<4).map { .int($0) })
        var actions = Dictionary(uniqueKeysWithValues: ["edit", "inpaint", "outpaint", "pan", "remix", "upscale", "variation"].map { ($0, all) })
        actions["reroll"] = .bool(true)
        return actions
    }()

    private func object(_ job: SimulatorJob, at t: Double) -> JobObject {
        let status = job.status(at: t)
        let done = status == "completed"
        let isVideo = job.kind.contains("video")
        let textKind = job.kind == "describe" || job.kind == "shorten"
        let base = "\(publicBaseURL)/_sim/files/\(job.id)"
        let ext = isVideo ? "mp4" : "png"
        let urls = (0..<4).map { "\(base)/\($0).\(ext)" }
        var output = JobObject.Output(image_url: "", image_urls: nil, video_urls: [], seed: "", available_actions: [:])
        if done {
            if textKind {
                output.description = job.kind == "describe" ? "a simulated description of the image" : nil
                output.prompts = ["simulated prompt one", "simulated prompt two"]
            } else if isVideo {
                output.video_urls = urls
            } else {
                output.image_url = "\(base)/grid.png"
                output.image_urls = urls
                output.available_actions = Self.imageActions
            }
            output.seed = String(job.seed)
        }
        let failedNow = status == "failed"
        let started = job.startAt.map { $0 <= t ? Self.stamp(date($0)) : Self.zeroTime } ?? Self.zeroTime
        let ended = (status == "completed" || failedNow) ? Self.stamp(date(job.endAt!)) : Self.zeroTime
        return JobObject(
            job_id: job.id,
            task_type: job.kind.replacingOccurrences(of: "-", with: "_"),
            status: status,
            webhook_endpoint: job.callback ?? "",
            input: job.input.filter { $0.key != "callback" },
            logs: failedNow ? ["job failed at the simulated Midjourney"] : [],
            output: output,
            meta: .init(
                created_at: Self.stamp(date(job.createdAt)),
                started_at: started,
                ended_at: ended,
                frozen: job.cost,
                consume: done ? job.cost : 0
            ),
            error: failedNow
                ? .init(code: 10001, message: "generation failed", raw_message: "simulated Midjourney failure")
                : .init(code: 0, message: "", raw_message: "")
        )
    }

    // MARK: Stats

    /// ``jobLengths``.
    func lengths() -> [Double] { jobLengths }

    func stats() -> [String: JSONValue] {
        advance(to: now())
        let requestsJSON = requests.mapValues { byStatus in JSONValue.object(byStatus.mapValues { .int($0) }) }
        let total = requests.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        return [
            "requests": .object(requestsJSON),
            "requests_total": .int(total),
            "rate_limited": .int(ledgers.reduce(0) { $0 + $1.rateLimited }),
            "peak_requests_per_second": .int(ledgers.map(\.peakPerSecond).max() ?? 0),
            "jobs_created": .int(jobsCreated),
            "duplicate_submissions": .int(duplicates),
            "in_flight": .int(inFlight),
            "peak_in_flight": .int(peakInFlight),
            "peak_processing": .int(peakProcessing),
            "jobs_completed": .int(completed),
            "jobs_failed": .int(failed),
            "dropped": .int(dropped),
            "server_errors": .int(injectedErrors),
            "malformed": .int(malformed),
            "files_served": .int(filesServed),
            "callbacks": .object(["delivered": .int(callbacksSent), "failed": .int(callbacksFailed)]),
            "credits": .object([
                "frozen": .int(ledgers.reduce(0) { $0 + $1.frozen }), "consumed": .int(ledgers.reduce(0) { $0 + $1.consumed }),
                "left": .int(ledgers.reduce(0) { $0 + $1.available }),
            ]),
            "accounts": .object(Dictionary(ledgers.map { ($0.account.name, $0.stats) }, uniquingKeysWith: { first, _ in first })),
            "duration_sum": .double(durationSum),
            "job_time_sum": .double(jobTimeSum),
        ]
    }
}
