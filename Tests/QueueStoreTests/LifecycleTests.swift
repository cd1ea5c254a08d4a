import Foundation
import QueueStore
import QueueTestSupport
import Testing

/// The daemon's transitions as the store makes them, with explicit times.
@Suite struct LifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func claimTakesDueJobsByPriorityThenAgeAndRecordsEvents() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let ids = try fixture.store.enqueue([
            NewJob(prompt: "low"), NewJob(prompt: "high", priority: 5), NewJob(prompt: "future", priority: 9, runAfter: t0.addingTimeInterval(60)),
            NewJob(prompt: "low 2"),
        ]).ids
        let claimed = try await fixture.store.claim(limit: 2, now: t0).jobs
        #expect(claimed.map(\.job.id) == [ids[1], ids[0]])
        #expect(claimed.allSatisfy { $0.job.state == .submitting && $0.job.attempts == 1 })
        let later = try await fixture.store.claim(limit: 5, now: t0.addingTimeInterval(61)).jobs
        #expect(later.map(\.job.id) == [ids[2], ids[3]])
        #expect(try await fixture.store.claim(limit: 5, now: t0.addingTimeInterval(62)).jobs.isEmpty)
        let events = try fixture.store.detail(ids[1]).events
        #expect(events.map(\.toState) == ["submitting"])
        #expect(try fixture.store.status().counts[.submitting] == 4)
    }

    @Test func followUpsWaitForTheirParentAndGetItsRemoteId() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let parent = try fixture.store.enqueue([NewJob(prompt: "parent")]).ids[0]
        let child = try fixture.store.enqueue([NewJob(kind: "upscale", prompt: nil, params: #"{"imageNo":1,"type":0}"#, parentId: parent)]).ids[0]
        #expect(try await fixture.store.claim(limit: 5, now: t0).jobs.map(\.job.id) == [parent])
        try await fixture.store.markSubmitted(id: parent, remoteJobId: "R1", status: .pending, nextPollAt: t0, now: t0)
        #expect(try await fixture.store.claim(limit: 5, now: t0).jobs.isEmpty, "the child waits while its parent runs")
        try await fixture.store.applyRemote(id: parent, update: RemoteUpdate(status: .completed), nextPollAt: nil, now: t0)
        let claimed = try await fixture.store.claim(limit: 5, now: t0).jobs
        #expect(claimed.map(\.job.id) == [child])
        #expect(claimed.first?.parent == ParentJob(id: parent, kind: "diffusion", prompt: "parent", remoteJobId: "R1"))
    }

    /// An extend-video's claim counts the extensions in a row before it (Legnext allows 4).
    @Test func anExtensionCountsTheExtensionsBeforeIt() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        var parent = try fixture.store.enqueue([NewJob(kind: "video-diffusion", prompt: "https://a.example/1.png waves")]).ids[0]
        for step in 0..<3 {
            let claimed = try await fixture.store.claim(limit: 5, now: t0).jobs
            #expect(claimed.map(\.job.id) == [parent])
            #expect(claimed.first?.parent?.extensions == (step == 0 ? nil : step - 1))
            try await fixture.store.markSubmitted(id: parent, remoteJobId: "R\(step)", status: .pending, nextPollAt: t0, now: t0)
            try await fixture.store.applyRemote(id: parent, update: RemoteUpdate(status: .completed), nextPollAt: nil, now: t0)
            parent = try fixture.store.enqueue([NewJob(kind: "extend-video", prompt: nil, params: #"{"videoNo":0}"#, parentId: parent)]).ids[0]
        }
        let claimed = try await fixture.store.claim(limit: 5, now: t0).jobs
        #expect(claimed.first?.parent?.extensions == 2, "two extend-video jobs in a row before this third one")
        #expect(try fixture.store.parents([parent - 1], countingExtensions: true)[parent - 1]?.extensions == 2)
    }

    @Test func aFollowUpOfAFailedParentFailsWithTheReason() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let parent = try fixture.store.enqueue([NewJob(prompt: "parent")]).ids[0]
        let child = try fixture.store.enqueue([NewJob(kind: "reroll", prompt: nil, parentId: parent)]).ids[0]
        _ = try await fixture.store.claim(limit: 1, now: t0)
        try await fixture.store.fail(id: parent, error: "boom", detail: nil, requestSent: true, now: t0)
        #expect(try await fixture.store.claim(limit: 5, now: t0).jobs.isEmpty)
        let job = try #require(try fixture.store.job(child))
        #expect(job.state == .failed)
        #expect(job.error?.contains("parent job \(parent) ended failed") == true)
    }

    @Test func remoteStatusNeverMovesBackwardsAndCompletionStoresOutputs() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let id = try fixture.store.enqueue([NewJob(prompt: "x")]).ids[0]
        _ = try await fixture.store.claim(limit: 1, now: t0)
        try await fixture.store.markSubmitted(id: id, remoteJobId: "R", status: .pending, nextPollAt: t0, now: t0)
        #expect(try await fixture.store.applyRemote(id: id, update: RemoteUpdate(status: .processing), nextPollAt: t0, now: t0) == .processing)
        #expect(try await fixture.store.applyRemote(id: id, update: RemoteUpdate(status: .pending), nextPollAt: t0, now: t0) == .processing)
        #expect(try fixture.store.job(id)?.state == .processing)
        let outputs = [
            JobOutput(jobId: id, kind: .grid, index: 0, url: "https://cdn/x/grid.png"),
            JobOutput(jobId: id, kind: .image, index: 0, url: "https://cdn/x/0.png"),
        ]
        let done = RemoteUpdate(status: .completed, output: #"{"seed":"7"}"#, outputs: outputs, creditsUsed: 80)
        #expect(try await fixture.store.applyRemote(id: id, update: done, nextPollAt: nil, now: t0) == .completed)
        #expect(try await fixture.store.applyRemote(id: id, update: RemoteUpdate(status: .processing), nextPollAt: t0, now: t0) == .completed)
        let detail = try fixture.store.detail(id)
        #expect(detail.job.state == .completed)
        #expect(detail.job.creditsUsed == 80)
        #expect(detail.outputs.count == 2)
        #expect(detail.events.map(\.toState) == ["submitting", "pending", "processing", "completed"])
        #expect(try fixture.store.status().creditsUsed == 80)
    }

    @Test func crashRecoveryTurnsSubmittingIntoUncertain() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let ids = try fixture.store.enqueue([NewJob(prompt: "a"), NewJob(prompt: "b")]).ids
        _ = try await fixture.store.claim(limit: 2, now: t0)
        try await fixture.store.markSubmitted(id: ids[0], remoteJobId: "R", status: .pending, nextPollAt: t0, now: t0)
        #expect(try await fixture.store.recoverInterruptedSubmissions(now: t0) == [ids[1]])
        #expect(try fixture.store.job(ids[1])?.state == .uncertain)
        let inFlight = try await fixture.store.inFlightJobs(now: t0).jobs
        #expect(inFlight.map(\.id) == [ids[0]])
        #expect(inFlight.first?.remoteJobId == "R")
    }

    @Test func requeueGivesBackTheAttemptWhenTheJobWasNotAtFault() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let id = try fixture.store.enqueue([NewJob(prompt: "a")]).ids[0]
        _ = try await fixture.store.claim(limit: 1, now: t0)
        try await fixture.store.requeue(id: id, runAfter: t0.addingTimeInterval(5), reason: "429", countAttempt: false, requestSent: true, now: t0)
        var job = try #require(try fixture.store.job(id))
        #expect(job.state == .queued)
        #expect(job.attempts == 0)
        #expect(job.requests == 1)
        #expect(try await fixture.store.claim(limit: 1, now: t0).jobs.isEmpty, "not before run_after")
        _ = try await fixture.store.claim(limit: 1, now: t0.addingTimeInterval(6))
        try await fixture.store.requeue(id: id, runAfter: nil, reason: "connection refused", countAttempt: true, requestSent: false, now: t0)
        job = try #require(try fixture.store.job(id))
        #expect(job.attempts == 1)
    }

    @Test func cancelAndRetryFollowTheRules() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let ids = try fixture.store.enqueue([NewJob(prompt: "a"), NewJob(prompt: "b"), NewJob(prompt: "c")]).ids
        _ = try await fixture.store.claim(limit: 1, now: t0)
        try await fixture.store.markSubmitted(id: ids[0], remoteJobId: "R", status: .processing, nextPollAt: t0, now: t0)
        let cancelled = try fixture.store.cancel([ids[0], ids[1], 999])
        #expect(cancelled[0].outcome != .done(from: .processing))
        #expect(cancelled[1].outcome == .done(from: .queued))
        #expect(cancelled[2].outcome == .notFound)
        try await fixture.store.applyRemote(
            id: ids[0],
            update: RemoteUpdate(status: .failed, error: "Legnext: moderation", errorDetail: #"{"code":403}"#),
            nextPollAt: nil,
            now: t0
        )
        #expect(try fixture.store.retry([ids[0]])[0].outcome == .done(from: .failed))
        let job = try #require(try fixture.store.job(ids[0]))
        #expect(job.state == .queued && job.attempts == 0 && job.error == nil && job.remoteJobId == nil)
        let events = try fixture.store.detail(ids[0]).events
        #expect(events.last?.detail?.contains("Legnext: moderation") == true, "the old error stays in the events")
        #expect(try fixture.store.ids(states: [.failed]) == [])
        #expect(try fixture.store.retry([ids[2]])[0].outcome != .done(from: .queued))
    }
}
