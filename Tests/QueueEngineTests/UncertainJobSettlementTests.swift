import Foundation
import Testing

@testable import LegnextAPI
@testable import QueueEngine

/// What a look at Legnext's running jobs proves about an uncertain job, and its verdict, one
/// step at a time with no I/O: the POST left at t0, its failure was answered (its fate sealed)
/// at t0 + 1, and a diffusion's window is 15 s before any duration is seen.
@Suite struct UncertainJobSettlementTests {
    typealias Task = LegnextActiveTasks.Task
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    var window: TimeInterval { UncertainJobSettlement.window(kind: "diffusion", shortestDurations: [:]) }

    func job(kind: String = "diffusion") -> UncertainJobSettlement {
        UncertainJobSettlement(id: 7, kind: kind, fingerprint: "f", sentAt: t0, answeredAt: t0 + 1)
    }

    func task(_ id: String, _ type: String? = "diffusion", createdAt: TimeInterval?) -> Task {
        Task(jobId: id, taskType: type, status: "processing", createdAt: createdAt.map { t0 + $0 }, progress: nil, estimatedTime: nil)
    }

    @Test func candidatesAreRunningJobsOfItsKindMadeWhileThePOSTWasUnderWayAndHeldByNoRow() {
        let tasks = [
            task("late", createdAt: 0.5), task("early", createdAt: -1.5), task("held", createdAt: 0.2),
            task("too-old", createdAt: -2.5), task("too-new", createdAt: 3.5), task("upscale", "upscale", createdAt: 0.1),
            task("undated", createdAt: nil), task("untyped", nil, createdAt: 0.3),
        ]
        let ids = job().candidates(among: tasks, held: ["held"]).map(\.jobId)
        // Within Legnext's clock skew (2 s) of the POST; undated ones first (they cannot be ruled out by time).
        #expect(ids == ["undated", "early", "untyped", "late"])
        let video = job(kind: "video-diffusion").candidates(among: [task("v", "video_diffusion", createdAt: 0)], held: [])
        #expect(video.map(\.jobId) == ["v"], "task_type as Legnext writes it")
    }

    @Test func aCandidateRuledOutIsNotOneAgain() {
        var job = job()
        job.lookFoundNothing(ruledOut: ["other"], unverified: false, lookStarted: t0 + 2, answered: t0 + 2.1)
        #expect(job.candidates(among: [task("other", createdAt: 0.5)], held: []).isEmpty)
    }

    @Test func aLookAfterTheSealWithinTheWindowProvesThePOSTMadeNothing() {
        var job = job()
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + 1.2, answered: t0 + 1.3)
        #expect(job.verdict(now: t0 + window - 0.1, window: window) == nil, "no verdict before the window closes")
        guard case .resend(let evidence) = job.verdict(now: t0 + window, window: window) else {
            Issue.record("expected a resend")
            return
        }
        #expect(evidence.contains("not created") && evidence.contains("1 looks"), "\(evidence)")
    }

    /// A callback named a Legnext job as this one's: a look that finds nothing (a job that
    /// ended fast is off the list) proves nothing while it is not ruled out; once a GET shows it
    /// is another's, the proof stands again.
    @Test func aJobNamedByACallbackIsNeverResentOnALooksProof() {
        var job = job()
        job.named.insert("named")
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + 1.2, answered: t0 + 1.3)
        #expect(job.verdict(now: t0 + window, window: window) == nil, "still looked for")
        guard case .leave(let why) = job.verdict(now: t0 + window * UncertainJobSettlement.horizon, window: window) else {
            Issue.record("expected it left for a person")
            return
        }
        #expect(why.contains("a callback named Legnext job named") && why.contains("not sent again"), "\(why)")
        job.namedRuledOut("named")
        guard case .resend = job.verdict(now: t0 + window, window: window) else {
            Issue.record("expected a resend once the named job is another's")
            return
        }
    }

    @Test func aLookBegunBeforeTheSealProvesNothing() {
        var job = job()
        // Legnext may still have been at work on the POST when this look began.
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + 0.5, answered: t0 + 1.5)
        #expect(job.firstAbsentLook == nil)
        #expect(job.verdict(now: t0 + window, window: window) == nil, "looked for until the horizon")
        #expect(job.verdict(now: t0 + window * UncertainJobSettlement.horizon - 0.1, window: window) == nil)
        guard case .leave(let why) = job.verdict(now: t0 + window * UncertainJobSettlement.horizon, window: window) else {
            Issue.record("expected the job left for a person")
            return
        }
        #expect(why.contains("no look at Legnext's running jobs could prove") && why.contains("`legnext-queue retry` resends it"), "\(why)")
    }

    @Test func aLookWithACandidateItCouldNotReadProvesNothing() {
        var job = job()
        job.lookFoundNothing(ruledOut: [], unverified: true, lookStarted: t0 + 2, answered: t0 + 2.1)
        #expect(job.firstAbsentLook == nil)
        #expect(job.looks == 1)
        #expect(job.verdict(now: t0 + window, window: window) == nil)
    }

    @Test func aLookAnsweredAfterTheWindowClosedProvesNothing() {
        var job = job()
        // A job the POST made could have ended before this look saw the list.
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + window - 0.1, answered: t0 + window + 0.1)
        #expect(job.verdict(now: t0 + window + 1, window: window) == nil)
        #expect(job.verdict(now: t0 + window * UncertainJobSettlement.horizon, window: window) != nil)
        if case .resend = job.verdict(now: t0 + window * UncertainJobSettlement.horizon, window: window) {
            Issue.record("resent without proof")
        }
    }

    @Test func theFirstAbsentLookCountsNotALaterOne() {
        var job = job()
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + 2, answered: t0 + 2.1)
        job.lookFoundNothing(ruledOut: [], unverified: false, lookStarted: t0 + 20, answered: t0 + 20.1)
        #expect(job.firstAbsentLook == t0 + 2.1)
        #expect(job.looks == 2)
    }

    @Test func theWindowIsHalfTheShortestSeenAndScalesUnseenKinds() {
        #expect(UncertainJobSettlement.window(kind: "diffusion", shortestDurations: [:]) == 15, "half the documented 30 s")
        #expect(UncertainJobSettlement.window(kind: "diffusion", shortestDurations: ["diffusion": 4]) == 2)
        #expect(UncertainJobSettlement.window(kind: "diffusion", shortestDurations: ["diffusion": 300]) == 15, "never past the prior")
        // Diffusions ending in 3 s (a tenth of the documented 30): an upscale's 45 s prior scales alike.
        #expect(UncertainJobSettlement.window(kind: "upscale", shortestDurations: ["diffusion": 3]) == 4.5)
    }

    @Test func looksComeJustAfterTheSealThenSeveralWithinTheWindowThenOnePerWindow() {
        let job = job()
        #expect(abs(job.nextLookGap(now: t0 + 0.5, window: window) - 0.51) < 1e-9)
        #expect(job.nextLookGap(now: t0 + 3, window: window) == (window - 3) / 4)
        #expect(job.nextLookGap(now: t0 + window + 1, window: window) == window)
    }
}
