import Foundation
import QueueSupport
import Testing

@testable import QueueEngine

/// DESIGN §4's rules for an accepted job, one transition at a time, with no I/O and no clock
/// but the `now` each event is given.
@Suite struct RemoteJobLifecycleTests {
    typealias Action = RemoteJobLifecycle.Action
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let limits = RemoteJobLifecycle.Limits(giveUpAfter: 1800, noProgressTimeout: 600, lingerPollInterval: 300, lingerLimit: 86_400)

    func job(status: LegnextJobStatus = .pending, firstPoll: TimeInterval = 5) -> RemoteJobLifecycle {
        RemoteJobLifecycle(
            id: 1,
            kind: "diffusion",
            remoteJobId: "R1",
            status: status,
            submittedAt: t0,
            firstPoll: t0 + firstPoll,
            limits: limits
        )
    }

    /// The planner stand-in: poll n is due 10 s after the start for every n.
    func planned(_ polls: Int) -> Date { t0 + Double(polls) * 10 }

    @Test func aDuePollStartsOnceAndStaleEntriesAreSkipped() {
        var job = job()
        let answer1 = job.pollDue(scheduledAt: t0 + 4)
        #expect(!answer1)  // an entry of another schedule
        let answer2 = job.pollDue(scheduledAt: t0 + 5)
        #expect(answer2)
        let answer3 = job.pollDue(scheduledAt: t0 + 5)
        #expect(!answer3)  // already asking: one poll at a time
        #expect(job.nextPoll == nil)
    }

    @Test func progressIsRecordedAndTheNextPollPlanned() {
        var job = job()
        _ = job.pollDue(scheduledAt: t0 + 5)
        let actions = job.answered(.processing, now: t0 + 6, nextPlanned: planned)
        #expect(actions == [.schedulePoll(at: t0 + 10), .recordStatus(.processing, nextPollAt: t0 + 10)])
        #expect(job.status == .processing)
        #expect(job.progressAt == t0 + 6)
        #expect(job.polls == 1)
        #expect(job.nextPoll == t0 + 10)
    }

    @Test func anOlderAnswerNeverMovesTheStatusBack() {
        var job = job(status: .processing)
        _ = job.pollDue(scheduledAt: t0 + 5)
        let actions = job.answered(.staged, now: t0 + 7, nextPlanned: planned)
        #expect(job.status == .processing)
        #expect(job.progressAt == t0)  // no progress: the clock keeps running
        // The row is asked to take it too: the store refuses a backward status on its own.
        #expect(actions == [.schedulePoll(at: t0 + 10), .recordStatus(.staged, nextPollAt: t0 + 10)])
    }

    @Test func anEndIsWrittenBeforeTheJobLeavesAndNothingFollowsIt() {
        for end in [LegnextJobStatus.completed, .failed] {
            var job = job()
            _ = job.pollDue(scheduledAt: t0 + 5)
            let answer4 = job.answered(end, now: t0 + 8, nextPlanned: planned)
            #expect(answer4 == [.recordEnd])
            #expect(job.isEnded)
            #expect(job.polls == 1)
            let answer5 = job.answered(.processing, now: t0 + 9, nextPlanned: planned)
            #expect(answer5.isEmpty)
            let answer6 = job.pollFailed(.transient, note: nil, now: t0 + 9, jitter: 0)
            #expect(answer6.isEmpty)
            let answer7 = job.finishedByCallback(now: t0 + 9)
            #expect(answer7.isEmpty)
            let answer8 = job.pollDue(scheduledAt: t0 + 10)
            #expect(!answer8)
        }
    }

    @Test func waitingInLegnextsQueueIsNotAStall() {
        var job = job()
        _ = job.pollDue(scheduledAt: t0 + 5)
        // Pending for 20 minutes: longer than the no-progress timeout, shorter than give-up.
        let actions = job.answered(.pending, now: t0 + 1200, nextPlanned: planned)
        #expect(!job.isLingering)
        #expect(!actions.contains { if case .releaseSlot = $0 { true } else { false } })
    }

    @Test func noProgressFreesTheSlotOnceAndTheJobIsStillAskedAboutSlowly() {
        var job = job(status: .processing)
        _ = job.pollDue(scheduledAt: t0 + 5)
        let first = job.answered(.processing, now: t0 + 601, nextPlanned: planned)
        #expect(job.isLingering)
        #expect(
            first == [
                .releaseSlot(
                    note:
                        "no progress: processing for 10m (--no-progress-timeout); its slot goes to the next job, and it is still asked about every 5m"
                ),
                .schedulePoll(at: t0 + 901),
                .recordStatus(.processing, nextPollAt: t0 + 901),
            ]
        )
        _ = job.pollDue(scheduledAt: t0 + 901)
        // Still lingering: no second note, the slow interval again.
        let answer9 = job.answered(.processing, now: t0 + 901, nextPlanned: planned)
        #expect(answer9 == [.schedulePoll(at: t0 + 1201), .recordStatus(.processing, nextPollAt: t0 + 1201)])
    }

    @Test func notFinishedLongAfterSubmissionLingersThenFailsAtTheLingerLimit() {
        var job = job()
        _ = job.pollDue(scheduledAt: t0 + 5)
        let late = job.answered(.pending, now: t0 + 1801, nextPlanned: planned)
        #expect(job.isLingering)
        #expect(
            late.first
                == .releaseSlot(
                    note: "not finished 30m after submission (--give-up-after); its slot goes to the next job, and it is still asked about every 5m"
                )
        )
        _ = job.pollDue(scheduledAt: t0 + 2101)
        let end = job.answered(.processing, now: t0 + 86_400, nextPlanned: planned)
        #expect(end == [.fail("gave up: Legnext had not finished it 1440m after submission; it may still finish and charge it")])
        #expect(job.isEnded)
    }

    @Test func aFailedPollIsRetriedWithBackoffUntilGiveUp() {
        var job = job()
        _ = job.pollDue(scheduledAt: t0 + 5)
        // Transient: 2 s doubling, jitter 0 takes the lower half.
        let answer10 = job.pollFailed(.transient, note: "poll failed: 503", now: t0 + 6, jitter: 0)
        #expect(answer10 == [.schedulePoll(at: t0 + 7), .recordProblem(note: "poll failed: 503", nextPollAt: t0 + 7)])
        _ = job.pollDue(scheduledAt: t0 + 7)
        let answer11 = job.pollFailed(.rateLimited(retryAfter: 3), note: nil, now: t0 + 8, jitter: 0.5)
        #expect(answer11 == [.schedulePoll(at: t0 + 11), .recordProblem(note: nil, nextPollAt: t0 + 11)])
        _ = job.pollDue(scheduledAt: t0 + 11)
        let answer12 = job.pollFailed(.rateLimited(retryAfter: nil), note: nil, now: t0 + 11, jitter: 0)
        #expect(answer12.first == .schedulePoll(at: t0 + 12))
        _ = job.pollDue(scheduledAt: t0 + 12)
        // Account, the fourth failure in a row: 5·2³ = 40, jitter 1 → the full 40 s.
        let answer13 = job.pollFailed(.account, note: "poll refused: 402", now: t0 + 12, jitter: 0.999_999)
        #expect(answer13.first == .schedulePoll(at: t0 + 12 + 39.99998))
        #expect(job.polls == 4)
        _ = job.pollDue(scheduledAt: t0 + 12 + 39.99998)
        let answer14 = job.pollFailed(.transient, note: nil, now: t0 + 1801, jitter: 0)
        #expect(answer14 == [.fail("gave up: no answer about it for 30m (--give-up-after)")])
        #expect(job.isEnded)
    }

    @Test func aFinishingCallbackBringsThePollForwardOnlyWhenItIsLater() {
        var job = job(firstPoll: 30)
        let answer15 = job.finishedByCallback(now: t0 + 3)
        #expect(answer15 == [.schedulePoll(at: t0 + 3)])
        let answer16 = job.finishedByCallback(now: t0 + 4)
        #expect(answer16.isEmpty)  // already due
        let answer17 = job.pollDue(scheduledAt: t0 + 30)
        #expect(!answer17)  // the planned entry is stale now
        let answer18 = job.pollDue(scheduledAt: t0 + 3)
        #expect(answer18)
        let answer19 = job.finishedByCallback(now: t0 + 5)
        #expect(answer19.isEmpty)  // asking already
    }

    @Test func theListOfRunningJobsMovesTheStatusForwardAndNeverReportsAnEnd() {
        var job = job(firstPoll: 30)
        #expect(job.listed(.processing, now: t0 + 2) == [.recordStatus(.processing, nextPollAt: t0 + 30)])
        #expect(job.listed(.processing, now: t0 + 3).isEmpty, "no news")
        #expect(job.listed(.pending, now: t0 + 4).isEmpty, "never backwards")
        #expect(job.listed(.completed, now: t0 + 5).isEmpty, "an end comes from a GET")
        #expect(job.status == .processing && job.progressAt == t0 + 2)
        // Brought forward to the plan's time when the list is gone; never pushed back.
        #expect(job.pollSooner(at: t0 + 10) == [.schedulePoll(at: t0 + 10)])
        #expect(job.pollSooner(at: t0 + 20).isEmpty)
        #expect(job.nextPoll == t0 + 10)
    }

    @Test func legnextNotKnowingTheJobEndsItFailedWithItsAnswer() {
        var job = job()
        _ = job.pollDue(scheduledAt: t0 + 5)
        let answer20 = job.unknownToLegnext("404 job not found")
        #expect(answer20 == [.fail("Legnext cannot report job R1: 404 job not found")])
        #expect(job.isEnded)
    }

    @Test func aFinalStatusAtAdoptionStartsAsPending() {
        // Adoption and recovery hand over what the row or Legnext said; the end is applied by
        // the answer event, so the starting status is never a final one.
        #expect(job(status: .completed).status == .pending)
    }

    @Test func theBackoffAfterAFailedPollCountsFailuresInARowNotPolls() {
        var job = job(status: .processing)
        for poll in 0..<6 {
            let at = job.nextPoll!
            _ = job.pollDue(scheduledAt: at)
            _ = job.answered(.processing, now: at, nextPlanned: { _ in at + 10 })
            #expect(job.polls == poll + 1)
        }
        let at = job.nextPoll!
        _ = job.pollDue(scheduledAt: at)
        // The seventh poll answered 503: the first failure in a row waits 1–2 s (jitter 0: 1 s).
        let first = job.pollFailed(.transient, note: nil, now: at, jitter: 0)
        #expect(first.first == .schedulePoll(at: at + 1))
        _ = job.pollDue(scheduledAt: at + 1)
        let second = job.pollFailed(.transient, note: nil, now: at + 1, jitter: 0)
        #expect(second.first == .schedulePoll(at: at + 3))
        #expect(job.failuresInARow == 2)
        _ = job.pollDue(scheduledAt: at + 3)
        _ = job.answered(.processing, now: at + 3, nextPlanned: { _ in at + 13 })
        #expect(job.failuresInARow == 0)
    }
}
