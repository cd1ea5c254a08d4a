import Foundation
import LegnextAPI

/// What a claimed job's POST answer means for it, decided without I/O (DESIGN §4,
/// "submitting"): the one place that says when a job is resent, when it is uncertain, when it
/// has failed. The engine writes what the verdict says and acts on it (SubmissionVerdictTests).
///
/// The rule that matters most: a POST that may have reached Legnext is never sent again
/// blindly, since Legnext may have made (and charged) the job. Only an answer that proves the
/// request did nothing — it never left, or a 5xx with `--resend-after-server-error` — is resent.
enum SubmissionVerdict: Sendable, Equatable {
    /// Accepted: record the Legnext id, then follow the job (or, when the answer already says
    /// it ended, record its end in the same write).
    case accepted(LegnextJob)
    /// Ended before anything was made: record `failed` with this reason.
    case fail(reason: String, detail: String?, requestSent: Bool)
    /// Back to the queue: sent again after `runAfter` (nil: as soon as a slot and token allow).
    case requeue(runAfter: Date?, reason: String, countAttempt: Bool, requestSent: Bool)
    /// The account is refused (401/402): pause submissions, and put the job back unharmed.
    case pause(LegnextAPIFailure, requeueReason: String)
    /// Legnext may have made the job: it is `uncertain` until settled (never resent blindly).
    case uncertain(reason: String)

    /// What the engine is configured to do with an answer that is not an acceptance.
    struct Rules: Sendable {
        var maxAttempts: Int
        var resendAfterServerError: Bool
        var retries: Backoff

        init(_ configuration: EngineConfiguration) {
            maxAttempts = configuration.maxAttempts
            resendAfterServerError = configuration.resendAfterServerError
            retries = configuration.retries
        }

        init(maxAttempts: Int, resendAfterServerError: Bool, retries: Backoff = .transient) {
            self.maxAttempts = maxAttempts
            self.resendAfterServerError = resendAfterServerError
            self.retries = retries
        }
    }

    /// - Parameters:
    ///   - attempts: the attempts counted so far, this one included.
    ///   - settles: whether an uncertain job will be looked for among Legnext's running jobs
    ///     (said in its reason: what happens next).
    ///   - listMissing: it will not because the server has no such list (said in its reason).
    ///   - jitter: in [0, 1), spreads the backoff of many jobs.
    init(
        _ outcome: LegnextOutcome<LegnextJob>,
        jobId: Int64,
        attempts: Int,
        rules: Rules,
        settles: Bool,
        listMissing: Bool = false,
        now: Date,
        jitter: Double
    ) {
        switch outcome {
        case .success(let remote):
            self = .accepted(remote)
        case .rejected(let failure):
            self = .fail(reason: "Legnext refused the job: \(failure)", detail: failure.error.json.jsonText, requestSent: true)
        case .account(let failure):
            self = .pause(failure, requeueReason: "waiting: submissions paused (\(failure))")
        case .rateLimited(let retryAfter, _):
            self = .requeue(
                runAfter: retryAfter.map { now.addingTimeInterval($0.seconds) },
                reason: "rate limited by Legnext (429); will resend",
                countAttempt: false,
                requestSent: true
            )
        case .transient(let failure):
            let serverAnswered = failure.httpStatus.map { $0 >= 500 } ?? false
            let provenHarmless = !failure.mayHaveReachedServer || (serverAnswered && rules.resendAfterServerError)
            if !provenHarmless {
                let next =
                    settles
                    ? "looking for it among Legnext's running jobs, to adopt it or, if none was made, resend"
                    : (listMissing ? "Legnext has no list of running jobs (active_tasks) to settle it by; " : "")
                        + "`legnext-queue retry \(jobId)` resends it, `cancel` settles it"
                self = .uncertain(
                    reason: "no clear answer to the submission (\(failure)); Legnext may have created the job, so it is not resent blindly: \(next)"
                )
            } else if attempts >= rules.maxAttempts {
                self = .fail(
                    reason: "gave up after \(attempts) attempts (--max-attempts): \(failure)",
                    detail: nil,
                    requestSent: failure.mayHaveReachedServer
                )
            } else {
                let delay = rules.retries.delay(attempt: attempts, random: jitter)
                self = .requeue(
                    runAfter: now.addingTimeInterval(delay),
                    reason: "attempt \(attempts) failed: \(failure)",
                    countAttempt: true,
                    requestSent: failure.mayHaveReachedServer
                )
            }
        }
    }
}
