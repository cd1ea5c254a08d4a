import Foundation
import QueueStore
import QueueSupport
import Synchronization

/// A ``JobStore`` in memory, for running the engine on logic time: each call is one step under
/// the actor's isolation (the atomicity the protocol asks for), with the state transitions of
/// the SQLite store's and none of its SQL. It holds what the engine needs; the rules a row is
/// held to at insert are the SQLite store's business and are tested there.
public actor InMemoryJobStore: JobStore {
    public private(set) var jobs: [Int64: Job] = [:]
    public private(set) var events: [Int64: [String]] = [:]
    public private(set) var outputs: [Int64: [JobOutput]] = [:]
    private var claimedAt: [Int64: Date] = [:]
    private var nextId: Int64 = 1
    /// Calls made so far: a driver on logic time watches it to tell when the engine is idle.
    private let calls: Counter

    public init(activity: Counter = Counter()) { calls = activity }

    public nonisolated var location: String { "memory" }
    public nonisolated func externalChanges() -> AsyncStream<Void>? { nil }

    // MARK: For tests

    @discardableResult
    public func enqueue(
        kind: String = "diffusion",
        prompt: String,
        params: String = "{}",
        parentId: Int64? = nil,
        account: String? = nil,
        now: Date
    ) -> Int64 {
        calls.add()
        let id = nextId
        nextId += 1
        var job = Job(id: id, kind: kind, prompt: prompt, params: params, parentId: parentId, createdAt: now)
        job.account = account
        jobs[id] = job
        return id
    }

    public func count(_ state: JobState) -> Int { jobs.values.filter { $0.state == state }.count }

    public var isSettled: Bool { jobs.values.allSatisfy(\.state.isTerminal) }

    private func change(_ id: Int64, _ reason: String?, now: Date, _ body: (inout Job) -> Void) {
        guard var job = jobs[id] else { return }
        body(&job)
        job.updatedAt = now
        if let reason {
            job.reason = reason
            events[id, default: []].append(reason)
        }
        jobs[id] = job
    }

    // MARK: Start-up and the daemon row

    public func recount() async throws(StoreError) { calls.add() }

    public func recoverInterruptedSubmissions(now: Date) async throws(StoreError) -> [Int64] {
        calls.add()
        let ids = jobs.values.filter { $0.state == .submitting }.map(\.id).sorted()
        for id in ids { change(id, "interrupted while submitting: uncertain", now: now) { $0.state = .uncertain } }
        return ids
    }

    public func failUnclaimableRows(now: Date) async throws(StoreError) -> [ClaimBatch.Failure] { [] }

    public func failUnroutablePins(route: AccountRoute, now: Date) async throws(StoreError) -> [ClaimBatch.Failure] {
        calls.add()
        var failed: [ClaimBatch.Failure] = []
        for job in jobs.values.sorted(by: { $0.id < $1.id }) where job.state == .queued {
            guard let pin = job.account, !route.all.contains(pin), let why = route.refusal(id: job.id, pin: pin, parentId: nil, parentAccount: nil)
            else { continue }
            change(job.id, why, now: now) {
                $0.state = .failed
                $0.error = why
            }
            failed.append(.init(id: job.id, reason: why))
        }
        return failed
    }

    public func inFlightJobs(now: Date) async throws(StoreError) -> (jobs: [InFlightJob], failed: [ClaimBatch.Failure]) {
        calls.add()
        let followed = jobs.values.filter { [.pending, .staged, .processing].contains($0.state) }.sorted { $0.id < $1.id }
        return (
            followed.compactMap { job in
                guard let remote = job.remoteJobId, let submitted = job.submittedAt else { return nil }
                return InFlightJob(
                    id: job.id,
                    kind: job.kind,
                    remoteJobId: remote,
                    remoteStatus: job.remoteStatus.flatMap(LegnextJobStatus.init(rawValue:)) ?? .pending,
                    submittedAt: submitted,
                    progressAt: job.progressAt ?? submitted,
                    nextPollAt: job.nextPollAt,
                    requests: job.requests,
                    account: job.remoteAccount
                )
            }, []
        )
    }

    public func recentDurations(kind: String, limit: Int) async throws(StoreError) -> [Double] { [] }
    public func registerDaemon(_ info: DaemonInfo, notifyChannels: [String]) async throws(StoreError) { calls.add() }
    public func heartbeat(now: Date, inFlight: Int, currentRate: Double?, pausedReason: String?, pausedSince: Date?) async throws(StoreError) {
        calls.add()
    }
    public func markDaemonStopped(now: Date) async throws(StoreError) { calls.add() }
    public func registerAccounts(_ accounts: [AccountInfo], now: Date) async throws(StoreError) { calls.add() }
    public func recordBalance(_ name: String, points: Int?, usd: Double?, now: Date) async throws(StoreError) { calls.add() }
    public func accountHeartbeat(
        _ name: String,
        now: Date,
        inFlight: Int,
        currentRate: Double?,
        pausedReason: String?,
        pausedSince: Date?
    )
        async throws(StoreError)
    { calls.add() }

    // MARK: Submitting

    public func claim(limit: Int, now: Date, callbackTokens: Bool, route: AccountRoute) async throws(StoreError) -> ClaimBatch {
        calls.add()
        var batch = ClaimBatch()
        let known = Set(route.all)
        let due = jobs.values.filter { job in
            guard job.state == .queued, (job.runAfter ?? .distantPast) <= now else { return false }
            if let pin = job.account, pin != route.name { return false }
            if let parent = job.parentId.flatMap({ jobs[$0] }), parent.state == .completed, job.account != route.name {
                let made = route.owner(parent.remoteAccount)
                return made == route.name || !known.contains(made)
            }
            return true
        }
        .sorted { ($0.priority, -$0.id) > ($1.priority, -$1.id) }
        .prefix(limit)
        for job in due {
            let parentJob = job.parentId.flatMap { jobs[$0] }
            let parentAccount: String?? = parentJob?.state == .completed ? .some(parentJob?.remoteAccount) : nil
            if let why = route.refusal(id: job.id, pin: job.account, parentId: job.parentId, parentAccount: parentAccount) {
                change(job.id, why, now: now) {
                    $0.state = .failed
                    $0.error = why
                }
                batch.failed.append(.init(id: job.id, reason: why))
                continue
            }
            change(job.id, "claimed for submission", now: now) {
                $0.state = .submitting
                $0.attempts += 1
                $0.remoteAccount = route.name
            }
            claimedAt[job.id] = now
            let parent = job.parentId.flatMap { jobs[$0] }.map {
                ParentJob(id: $0.id, kind: $0.kind, prompt: $0.prompt, remoteJobId: $0.remoteJobId)
            }
            batch.jobs.append(ClaimedJob(job: jobs[job.id]!, parent: parent, callbackToken: callbackTokens ? "token-\(job.id)" : nil))
        }
        return batch
    }

    public func markSubmitted(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        nextPollAt: Date,
        now: Date,
        finished: RemoteUpdate?
    ) async throws(StoreError) {
        calls.add()
        guard jobs[id]?.state == .submitting else { return }
        change(id, "accepted by Legnext as \(remoteJobId)", now: now) {
            $0.state = JobState(rawValue: status.runningState) ?? .pending
            $0.remoteJobId = remoteJobId
            $0.remoteStatus = status.runningState
            $0.submittedAt = now
            $0.progressAt = now
            $0.nextPollAt = nextPollAt
            $0.requests += 1
        }
        if let finished { apply(id, finished, nextPollAt: nil, now: now) }
    }

    public func requeue(id: Int64, runAfter: Date?, reason: String, countAttempt: Bool, requestSent: Bool, now: Date) async throws(StoreError) {
        calls.add()
        guard jobs[id]?.state == .submitting else { return }
        change(id, reason, now: now) {
            $0.state = .queued
            $0.runAfter = runAfter
            if !countAttempt { $0.attempts -= 1 }
            if requestSent { $0.requests += 1 }
        }
    }

    public func fail(id: Int64, error: String, detail: String?, requestSent: Bool, now: Date) async throws(StoreError) {
        calls.add()
        guard jobs[id].map({ !$0.state.isTerminal }) == true else { return }
        change(id, error, now: now) {
            $0.state = .failed
            $0.error = error
            $0.errorDetail = detail
            $0.finishedAt = now
            $0.nextPollAt = nil
            if requestSent { $0.requests += 1 }
        }
    }

    public func markUncertain(id: Int64, reason: String, now: Date) async throws(StoreError) {
        calls.add()
        guard jobs[id]?.state == .submitting else { return }
        change(id, reason, now: now) {
            $0.state = .uncertain
            $0.requests += 1
        }
    }

    // MARK: Following

    @discardableResult
    public func applyRemote(id: Int64, update: RemoteUpdate, nextPollAt: Date?, now: Date) async throws(StoreError) -> JobState? {
        calls.add()
        return apply(id, update, nextPollAt: nextPollAt, now: now)
    }

    @discardableResult
    private func apply(_ id: Int64, _ update: RemoteUpdate, nextPollAt: Date?, now: Date) -> JobState? {
        guard let job = jobs[id] else { return nil }
        guard job.state.isInFlight, job.state != .submitting else { return job.state }
        let requests = update.countsRequest ? 1 : 0
        let current = job.remoteStatus.flatMap(LegnextJobStatus.init(rawValue:))
        guard !update.status.isBehind(current) else {
            change(id, nil, now: now) { $0.requests += requests }
            return job.state
        }
        switch update.status {
        case .completed:
            change(id, "completed", now: now) {
                $0.state = .completed
                $0.remoteStatus = "completed"
                $0.output = update.output
                $0.creditsUsed = update.creditsUsed
                $0.requests += requests
                $0.nextPollAt = nil
                $0.finishedAt = now
            }
            outputs[id] = update.outputs
            return .completed
        case .failed:
            change(id, "failed at Legnext", now: now) {
                $0.state = .failed
                $0.remoteStatus = "failed"
                $0.error = update.error ?? "Legnext reported the job failed"
                $0.errorDetail = update.errorDetail
                $0.requests += requests
                $0.nextPollAt = nil
                $0.finishedAt = now
            }
            return .failed
        case .pending, .staged, .processing:
            let progressed = update.status.isAhead(of: current)
            change(id, progressed ? "Legnext reports \(update.status.rawValue)" : nil, now: now) {
                $0.state = JobState(rawValue: update.status.rawValue) ?? $0.state
                $0.remoteStatus = update.status.rawValue
                $0.requests += requests
                $0.nextPollAt = nextPollAt
                if progressed { $0.progressAt = now }
            }
            return jobs[id]?.state
        }
    }

    public func recordRequestProblem(id: Int64, note: String?, nextPollAt: Date?, now: Date) async throws(StoreError) {
        calls.add()
        change(id, nil, now: now) {
            $0.requests += 1
            $0.nextPollAt = nextPollAt
        }
        if let note { events[id, default: []].append(note) }
    }

    public func addEvent(id: Int64, detail: String, now: Date) async throws(StoreError) {
        calls.add()
        events[id, default: []].append(detail)
    }

    // MARK: Idle and delayed work

    public func nextDueTime(after now: Date) async throws(StoreError) -> Date? {
        calls.add()
        return jobs.values.filter { $0.state == .queued }.compactMap(\.runAfter).filter { $0 > now }.min()
    }

    public func queuedCount() async throws(StoreError) -> Int { count(.queued) }

    public func deferredJobs(after now: Date) async throws(StoreError) -> (count: Int, next: Date?) {
        let deferred = jobs.values.filter { $0.state == .queued }.compactMap(\.runAfter).filter { $0 > now }
        return (deferred.count, deferred.min())
    }

    // MARK: Settling uncertain jobs

    public func uncertainJobs() async throws(StoreError) -> [(job: Job, claimedAt: Date)] {
        calls.add()
        return jobs.values.filter { $0.state == .uncertain }.sorted { $0.id < $1.id }.map { ($0, claimedAt[$0.id] ?? $0.updatedAt) }
    }

    public func uncertainSubmission(id: Int64) async throws(StoreError) -> UncertainSubmission? {
        guard let job = jobs[id], job.state == .uncertain else { return nil }
        return UncertainSubmission(
            job: job,
            parentRemoteJobId: job.parentId.flatMap { jobs[$0]?.remoteJobId },
            claimedAt: claimedAt[id] ?? job.updatedAt
        )
    }

    public func heldRemoteIds(_ remoteJobIds: [String]) async throws(StoreError) -> Set<String> {
        let held = Set(jobs.values.compactMap(\.remoteJobId))
        return Set(remoteJobIds.filter(held.contains))
    }

    public func slowestRecentSubmission(limit: Int) async throws(StoreError) -> TimeInterval? { nil }

    public func adoptRemote(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        evidence: String,
        nextPollAt: Date,
        now: Date
    ) async throws(StoreError) -> QueueStore.Adoption {
        calls.add()
        if let other = jobs.values.first(where: { $0.remoteJobId == remoteJobId && $0.id != id }) { return .heldBy(other.id) }
        guard jobs[id]?.state == .uncertain else { return .notUncertain }
        change(id, evidence, now: now) {
            $0.state = JobState(rawValue: status.runningState) ?? .pending
            $0.remoteJobId = remoteJobId
            $0.remoteStatus = status.runningState
            $0.submittedAt = $0.submittedAt ?? now
            $0.progressAt = now
            $0.nextPollAt = nextPollAt
        }
        return .adopted
    }

    public func resendUncertain(id: Int64, evidence: String, now: Date) async throws(StoreError) -> Bool {
        calls.add()
        guard jobs[id]?.state == .uncertain else { return false }
        change(id, evidence, now: now) {
            $0.state = .queued
            $0.runAfter = nil
        }
        return true
    }
}

/// A count of things done, shared by the parts of a logic-time test.
public final class Counter: Sendable {
    private let value = Mutex(0)
    public init() {}
    public func add() { value.withLock { $0 += 1 } }
    public var count: Int { value.withLock { $0 } }
}
