import Foundation
import QueueSupport

/// The calls the engine makes of the queue, and nothing else: the seam between the daemon's
/// logic and where jobs are kept. ``QueueStore`` (SQLite) is the implementation that ships; a
/// test can run the engine on another, and a PostgreSQL store would be one more (README,
/// "Architecture", says which of these calls must be atomic).
///
/// Every call is one transaction: a call that returns has written all it says, a call that
/// throws has written nothing. Times are the caller's `now`, never the store's own clock.
public protocol JobStore: Sendable {
    /// Where the queue is, for log lines.
    var location: String { get }

    /// Signalled when the queue may have changed outside this process (a `sqlite3` shell
    /// inserting rows); nil when the store cannot tell, and the engine looks periodically.
    /// The stream ends, and the watching with it, when its consumer stops iterating.
    func externalChanges() -> AsyncStream<Void>?

    // MARK: Start-up and the daemon row

    /// Counts every row again, from scratch (once at start-up: a person may have upset them).
    func recount() async throws(StoreError)
    /// Jobs left `submitting` by a process that ended may have reached Legnext: they become
    /// `uncertain`, never resent without a verdict. Returns their ids.
    func recoverInterruptedSubmissions(now: Date) async throws(StoreError) -> [Int64]
    /// Fails, with their reason, the queued rows no claim would ever take (a state none of the
    /// machine's, follow-ups whose parents form a cycle).
    func failUnclaimableRows(now: Date) async throws(StoreError) -> [ClaimBatch.Failure]
    /// Fails, with what to do, the queued jobs pinned to an account the daemon does not run
    /// (left out of this start): no claim takes them, and they would wait for ever.
    func failUnroutablePins(route: AccountRoute, now: Date) async throws(StoreError) -> [ClaimBatch.Failure]
    /// Accepted jobs to follow after a restart; a row that cannot be followed fails with the reason.
    func inFlightJobs(now: Date) async throws(StoreError) -> (jobs: [InFlightJob], failed: [ClaimBatch.Failure])
    /// Recent true durations of completed jobs of `kind`, newest first.
    func recentDurations(kind: String, limit: Int) async throws(StoreError) -> [Double]
    func registerDaemon(_ info: DaemonInfo, notifyChannels: [String]) async throws(StoreError)
    func heartbeat(now: Date, inFlight: Int, currentRate: Double?, pausedReason: String?, pausedSince: Date?) async throws(StoreError)
    func markDaemonStopped(now: Date) async throws(StoreError)
    /// Records the accounts the daemon runs, in order: pins name these (an account left out
    /// keeps its row and its credits, inactive).
    func registerAccounts(_ accounts: [AccountInfo], now: Date) async throws(StoreError)
    /// What an account's balance check found (points or credits available, USD).
    func recordBalance(_ name: String, points: Int?, usd: Double?, now: Date) async throws(StoreError)
    /// One account's live figures (and its pause, or its end with nil).
    func accountHeartbeat(
        _ name: String,
        now: Date,
        inFlight: Int,
        currentRate: Double?,
        pausedReason: String?,
        pausedSince: Date?
    )
        async throws(StoreError)

    // MARK: Submitting

    /// Takes up to `limit` due jobs that `route`'s account may send, highest priority first,
    /// and makes them `submitting` with their account before anything is sent; rows that break
    /// their kind's rules, or that no account of the daemon can send, are failed instead.
    func claim(limit: Int, now: Date, callbackTokens: Bool, route: AccountRoute) async throws(StoreError) -> ClaimBatch
    /// Legnext accepted the job: its id, and (when the answer already said so) its end.
    func markSubmitted(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        nextPollAt: Date,
        now: Date,
        finished: RemoteUpdate?
    ) async throws(StoreError)
    func requeue(id: Int64, runAfter: Date?, reason: String, countAttempt: Bool, requestSent: Bool, now: Date) async throws(StoreError)
    func fail(id: Int64, error: String, detail: String?, requestSent: Bool, now: Date) async throws(StoreError)
    func markUncertain(id: Int64, reason: String, now: Date) async throws(StoreError)

    // MARK: Following

    /// A status or an end Legnext reported; a status behind the row's is ignored. Returns the
    /// job's state afterwards.
    @discardableResult
    func applyRemote(id: Int64, update: RemoteUpdate, nextPollAt: Date?, now: Date) async throws(StoreError) -> JobState?
    func recordRequestProblem(id: Int64, note: String?, nextPollAt: Date?, now: Date) async throws(StoreError)
    func addEvent(id: Int64, detail: String, now: Date) async throws(StoreError)

    // MARK: Idle and delayed work

    func nextDueTime(after now: Date) async throws(StoreError) -> Date?
    func queuedCount() async throws(StoreError) -> Int
    func deferredJobs(after now: Date) async throws(StoreError) -> (count: Int, next: Date?)

    // MARK: Settling uncertain jobs

    func uncertainJobs() async throws(StoreError) -> [(job: Job, claimedAt: Date)]
    func uncertainSubmission(id: Int64) async throws(StoreError) -> UncertainSubmission?
    /// Which of these Legnext ids a row holds.
    func heldRemoteIds(_ remoteJobIds: [String]) async throws(StoreError) -> Set<String>
    /// The slowest answer to a submission among the last `limit` accepted ones; nil with none yet.
    func slowestRecentSubmission(limit: Int) async throws(StoreError) -> TimeInterval?
    /// An uncertain job takes Legnext job `remoteJobId`, unless another row holds it.
    func adoptRemote(
        id: Int64,
        remoteJobId: String,
        status: LegnextJobStatus,
        evidence: String,
        nextPollAt: Date,
        now: Date
    ) async throws(StoreError) -> QueueStore.Adoption
    /// An uncertain job whose submission provably created nothing goes back to the queue;
    /// `evidence` is its reason and event. False if it was no longer uncertain.
    func resendUncertain(id: Int64, evidence: String, now: Date) async throws(StoreError) -> Bool
}

extension QueueStore: JobStore {
    public var location: String { path }

    public func externalChanges() -> AsyncStream<Void>? {
        guard let watcher = ChangeWatcher(databasePath: path) else { return nil }
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let forwarding = Task {
            while !Task.isCancelled {
                await watcher.changes.wait()
                continuation.yield()
            }
        }
        continuation.onTermination = { _ in
            forwarding.cancel()
            watcher.stop()
        }
        watcher.start()
        return stream
    }
}
