import Foundation
import LegnextAPI
import QueueSupport
import Testing

@testable import QueueEngine

/// DESIGN §4's rules for a POST's answer, one outcome at a time: what is resent, what is
/// uncertain, what fails.
@Suite struct SubmissionVerdictTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let rules = SubmissionVerdict.Rules(maxAttempts: 3, resendAfterServerError: false)

    func verdict(
        _ outcome: LegnextOutcome<LegnextJob>,
        attempts: Int = 1,
        rules: SubmissionVerdict.Rules? = nil,
        settles: Bool = true
    ) -> SubmissionVerdict {
        SubmissionVerdict(outcome, jobId: 7, attempts: attempts, rules: rules ?? self.rules, settles: settles, now: t0, jitter: 0)
    }

    func failure(_ status: Int, _ message: String) -> LegnextAPIFailure {
        LegnextAPIFailure(httpStatus: status, error: LegnextErrorInfo(code: status, message: message))
    }

    @Test func anAcceptanceIsFollowed() throws {
        let remote = try LegnextJob(json: ["job_id": "R1", "status": "pending", "model": "midjourney", "task_type": "diffusion"])
        #expect(verdict(.success(remote)) == .accepted(remote))
    }

    @Test func aRefusalFailsTheJobWithLegnextsWords() {
        let refused = failure(400, "prompt is required")
        #expect(
            verdict(.rejected(refused))
                == .fail(
                    reason: "Legnext refused the job: HTTP 400: prompt is required (code 400)",
                    detail: refused.error.json.jsonText,
                    requestSent: true
                )
        )
    }

    @Test func anAccountProblemPausesAndPutsTheJobBackUnharmed() {
        let broke = failure(402, "insufficient credits")
        #expect(verdict(.account(broke)) == .pause(broke, requeueReason: "waiting: submissions paused (HTTP 402: insufficient credits (code 402))"))
    }

    @Test func aRateLimitResendsWithoutCountingAnAttempt() {
        #expect(
            verdict(.rateLimited(retryAfter: .seconds(4), nil))
                == .requeue(runAfter: t0 + 4, reason: "rate limited by Legnext (429); will resend", countAttempt: false, requestSent: true)
        )
        #expect(
            verdict(.rateLimited(retryAfter: nil, nil))
                == .requeue(runAfter: nil, reason: "rate limited by Legnext (429); will resend", countAttempt: false, requestSent: true)
        )
    }

    @Test func aRequestThatNeverLeftIsResentWithBackoffUntilMaxAttempts() {
        let refusedConnection = TransientFailure(reason: "connection refused", mayHaveReachedServer: false)
        // Attempt 2 of 3: 2·2¹ = 4 s ceiling, jitter 0 → 2 s.
        #expect(
            verdict(.transient(refusedConnection), attempts: 2)
                == .requeue(
                    runAfter: t0 + 2,
                    reason: "attempt 2 failed: connection refused (request not sent)",
                    countAttempt: true,
                    requestSent: false
                )
        )
        #expect(
            verdict(.transient(refusedConnection), attempts: 3)
                == .fail(reason: "gave up after 3 attempts (--max-attempts): connection refused (request not sent)", detail: nil, requestSent: false)
        )
    }

    @Test func aPostThatMayHaveReachedLegnextIsNeverResentBlindly() {
        for lost in [
            TransientFailure(reason: "connection reset", mayHaveReachedServer: true),
            TransientFailure(reason: "timed out", mayHaveReachedServer: true),
            TransientFailure(reason: "internal error", httpStatus: 500, mayHaveReachedServer: true),
        ] {
            // Not even on the last attempt: a failure would hide a job Legnext may have charged.
            for attempts in [1, 3] {
                guard case .uncertain(let reason) = verdict(.transient(lost), attempts: attempts) else {
                    Issue.record("\(lost) at attempt \(attempts) is not uncertain")
                    continue
                }
                #expect(reason.contains("not resent blindly: looking for it among Legnext's running jobs"))
            }
        }
        guard case .uncertain(let reason) = verdict(.transient(TransientFailure(reason: "reset", mayHaveReachedServer: true)), settles: false) else {
            Issue.record("not uncertain")
            return
        }
        #expect(reason.hasSuffix("`legnext-queue retry 7` resends it, `cancel` settles it"))
    }

    @Test func aServerErrorIsResentOnlyWhenTheOperatorSaidSo() {
        let serverError = TransientFailure(reason: "internal error", httpStatus: 502, mayHaveReachedServer: true)
        let resending = SubmissionVerdict.Rules(maxAttempts: 3, resendAfterServerError: true)
        #expect(
            verdict(.transient(serverError), attempts: 1, rules: resending)
                == .requeue(runAfter: t0 + 1, reason: "attempt 1 failed: HTTP 502: internal error", countAttempt: true, requestSent: true)
        )
        // A reset without an answer is still uncertain: no server said it did nothing.
        let reset = TransientFailure(reason: "connection reset", mayHaveReachedServer: true)
        #expect({ if case .uncertain = verdict(.transient(reset), rules: resending) { true } else { false } }())
    }
}
