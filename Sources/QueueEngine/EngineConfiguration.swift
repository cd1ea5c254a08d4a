import Foundation
import LegnextAPI
import QueueStore

/// How the daemon drains the queue. Every field has a default a demanding operator can live with.
public struct EngineConfiguration: Sendable {
    /// Remote jobs in flight at most (submitted and not finished).
    public var concurrency: Int = 4
    /// The plan's limit, when known (learnt from `active_tasks` or told): jobs in flight are then
    /// the plan and a lead waiting in Legnext's queue sized from the completion lag
    /// (``PlanLead``), never over `concurrency`.
    public var plan: Int?
    /// Requests per second to Legnext, shared by submissions, polls and balance probes; 0 = unlimited.
    public var rate: Double = 2
    /// Requests that may go at once after a quiet spell.
    public var burst: Int = 4
    /// Submissions tried per job before it fails (only for requests that provably never left).
    public var maxAttempts: Int = 5
    /// Stop waiting on a job still unfinished this long after submission (its slot goes to the
    /// next job; it is still followed slowly, see `lingerPollInterval`).
    public var giveUpAfter: TimeInterval = 30 * 60
    /// Stop waiting on a job whose Legnext status has not changed for this long (time in
    /// Legnext's own queue, `pending`, does not count), as with `giveUpAfter`.
    public var noProgressTimeout: TimeInterval = 10 * 60
    /// A job past `noProgressTimeout` or `giveUpAfter` frees its slot but is still asked about
    /// this often (Legnext may finish, and charge, it later) ...
    public var lingerPollInterval: TimeInterval = 5 * 60
    /// ... until this long after its submission, when it is failed.
    public var lingerLimit: TimeInterval = 24 * 60 * 60
    /// Expected polls per job at most, where each job is polled on its own (nil: as many as the
    /// rate's headroom allows, placed by ``PollScheduler``); also the average the safety-net
    /// plans aim at with callbacks or the list of running jobs (2 when nil).
    public var pollBudget: Double?
    /// Waits before a request is tried again after a failure without a usable answer (a
    /// submission that provably never left, a 5xx or lost connection on a poll or a look).
    public var retries = Backoff.transient
    /// While paused for the key or for credit, the balance checks' waits (doubling from about
    /// `base`, up to `cap`).
    public var balanceChecks = Backoff.accountProbe
    /// On shutdown, time given to requests under way before they are cut off.
    public var gracePeriod: TimeInterval = 20
    /// Stop once nothing is queued or in flight.
    public var exitWhenIdle = false
    /// How often the `daemon` row is refreshed.
    public var heartbeatInterval: TimeInterval = 2
    /// Look for work at least this often even without a change signal.
    public var idleCheckInterval: TimeInterval = 5
    /// Treat a 5xx answer to a POST as "not created" and resend it (Legnext's own SDK does);
    /// off by default, so a job is never paid twice.
    public var resendAfterServerError = false
    /// Settle an uncertain job by looking at Legnext's running jobs (`GET /account/active_tasks`):
    /// adopt the job its lost POST made, or resend it when provably none was made. Off: a person decides.
    public var autoSettle = true
    /// Without callbacks, follow in-flight jobs by looking at Legnext's list of running jobs
    /// (`GET /account/active_tasks`, where the server has it): one request shows them all, and
    /// each job's own polls become a safety net, as with callbacks. Off: every job is polled.
    public var watchRunningJobs = true
    /// Where Legnext can reach our callback receiver (e.g. `https://queue.example.com:8443`);
    /// each submission then carries `<base>/legnext/<job id>/<token>`. Nil: polling only.
    public var callbackBaseURL: String?
    /// With callbacks on, or Legnext's list of running jobs watched, polls are only a safety
    /// net: they come this many times later than the poll plan alone would put them.
    public var callbackPollStretch: Double = 4
    /// With callbacks on, or the list watched, jobs of a kind whose durations are not learnt
    /// yet are polled this often: the probe's early polls would mostly be wasted.
    public var callbackSafetyInterval: TimeInterval = 30
    /// Mark image and video outputs of completed jobs for download (a downloader runs beside).
    public var downloadOutputs = false
    /// Deliveries wanted when a job ends (`webhook`, `command`): recorded in the `daemon` row,
    /// where the outbox trigger reads them.
    public var notifyChannels: [String] = []
    /// Jobs claimed in one transaction at most.
    public var claimBatch: Int = 64
    /// The Legnext account this engine sends with, and which queued jobs it may take
    /// (``AccountRoute``): one account, `default`, unless an ``EnginePool`` runs several.
    public var route: AccountRoute = .single
    /// Among the accounts of a pool with room for a job, those of the highest priority take it.
    public var priority = 0

    /// Reads the API key again (from its file or credential), asked before each balance probe
    /// while the key is refused, so a fixed key file resumes the daemon without a restart.
    public var reloadKey: (@Sendable () -> APIKey?)? = nil

    public init() {}
}
