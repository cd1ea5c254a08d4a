import Foundation
import QueueEngine
import QueueStore
import QueueTestSupport
import Testing

/// The whole engine (dispatcher, poll scheduler, rate limiter, settler, heartbeat) on an
/// in-memory queue and a scripted Legnext, on logic time: jobs of real length (tens of seconds
/// to hours) drain in moments of wall time, and what is asserted is behaviour, never speed.
@Suite struct LogicTimeEngineTests {
    /// 30–49 s, fixed per prompt: real diffusion lengths.
    static let realLength: @Sendable (String) -> TimeInterval = { prompt in 30 + Double(prompt.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) % 20 }) }

    func configuration(concurrency: Int = 6) -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.concurrency = concurrency
        configuration.rate = 5
        configuration.burst = 5
        return configuration
    }

    @Test func aBatchOfRealLengthDrainsWithinThePlansSlotsAndIsPaidForOnce() async throws {
        let harness = LogicTimeHarness(planConcurrency: 6, duration: Self.realLength)
        for index in 0..<60 { await harness.store.enqueue(prompt: "a fox, study \(index)", now: harness.start) }
        let (met, elapsed) = try await harness.run(configuration()) { await harness.store.count(.completed) == 60 }
        let completed = await harness.store.count(.completed)
        #expect(met, "completed: \(completed) of 60")
        #expect(harness.legnext.jobsMade == 60)
        #expect(harness.legnext.requests["POST"] == 60)
        #expect(harness.legnext.peakProcessing <= 6)
        // Every result is kept: a grid and its four images for each job.
        let outputs = await harness.store.outputs
        #expect(outputs.count == 60 && outputs.values.allSatisfy { $0.count == 5 })
        // Ten waves of 30–49 s jobs cannot take less logic time than ten of the shortest.
        #expect(elapsed >= 300)
    }

    @Test func aPostWhoseAnswerWasLostIsNeverSentAgain() async throws {
        let harness = LogicTimeHarness(duration: Self.realLength) { prompt, _ in prompt.hasPrefix("lost") ? .answerLost : nil }
        for index in 0..<8 { await harness.store.enqueue(prompt: "kept \(index)", now: harness.start) }
        for index in 0..<2 { await harness.store.enqueue(prompt: "lost \(index)", now: harness.start) }
        let (met, _) = try await harness.run(configuration()) {
            let (completed, uncertain) = (await harness.store.count(.completed), await harness.store.count(.uncertain))
            return completed == 8 && uncertain == 2
        }
        #expect(met)
        // Legnext made all ten (the lost answers' jobs too) and was asked to make each once: the
        // server here has no active_tasks to look in, so the two wait for a person, saying so.
        #expect(harness.legnext.jobsMade == 10)
        #expect(harness.legnext.requests["POST"] == 10)
        let lost = await harness.store.jobs.values.filter { $0.state == .uncertain }
        #expect(lost.allSatisfy { $0.reason?.contains("not resent blindly") == true && $0.attempts == 1 })
    }

    @Test func aJobRefusedByLegnextFailsWithItsWordsAndTheRestGoOn() async throws {
        let harness = LogicTimeHarness(duration: Self.realLength) { prompt, _ in prompt == "refused" ? .refused(400) : nil }
        let refused = await harness.store.enqueue(prompt: "refused", now: harness.start)
        for index in 0..<5 { await harness.store.enqueue(prompt: "fine \(index)", now: harness.start) }
        let (met, _) = try await harness.run(configuration()) { await harness.store.isSettled }
        #expect(met)
        let job = await harness.store.jobs[refused]
        #expect(job?.state == .failed)
        #expect(job?.error == "Legnext refused the job: HTTP 400: refused by the script (code 400)")
        let completed = await harness.store.count(.completed)
        #expect(completed == 5)
    }

    @Test func aStalledJobGivesItsSlotToTheNextAndIsStillFollowedToItsEnd() async throws {
        // One slot: a job that runs two hours must not hold back the one behind it.
        let harness = LogicTimeHarness(planConcurrency: 2) { prompt in prompt == "slow" ? 2 * 3600 : 40 }
        let slow = await harness.store.enqueue(prompt: "slow", now: harness.start)
        let quick = await harness.store.enqueue(prompt: "quick", now: harness.start)
        var configuration = configuration(concurrency: 1)
        configuration.giveUpAfter = 3 * 3600
        let (met, _) = try await harness.run(configuration) { await harness.store.isSettled }
        #expect(met)
        let jobs = await harness.store.jobs
        #expect(jobs[slow]?.state == .completed)
        #expect(jobs[quick]?.state == .completed)
        // The quick job went as soon as the slow one passed the no-progress timeout (10 min).
        let quickEnd = try #require(jobs[quick]?.finishedAt)
        #expect(quickEnd.timeIntervalSince(harness.start) < 15 * 60)
        let events = await harness.store.events[slow] ?? []
        #expect(events.contains { $0.contains("its slot goes to the next job") })
        // Adopted with its outputs when it completed, not failed.
        #expect(await harness.store.outputs[slow]?.count == 5)
        #expect(harness.legnext.jobsMade == 2)
    }

    @Test func waitingInLegnextsOwnQueueIsNotAStall() async throws {
        // `--concurrency 10` against a plan of 6: four jobs at a time wait `pending` at
        // Legnext, the last ones for minutes, far past a no-progress timeout of 100 s.
        let harness = LogicTimeHarness(planConcurrency: 6) { _ in 60 }
        for index in 0..<30 { await harness.store.enqueue(prompt: "queued at Legnext \(index)", now: harness.start) }
        var configuration = configuration(concurrency: 10)
        configuration.noProgressTimeout = 100
        let (met, _) = try await harness.run(configuration) { await harness.store.isSettled }
        #expect(met)
        #expect(await harness.store.count(.completed) == 30)
        #expect(harness.legnext.peakUnfinished == 10 && harness.legnext.peakProcessing == 6)
        #expect(harness.legnext.jobsMade == 30)
        let events = await harness.store.events.values.flatMap { $0 }
        #expect(!events.contains { $0.contains("no progress") })
    }

    @Test func uncertainJobsAreAdoptedOrResentAndLegnextHoldsNothingTwice() async throws {
        // Three answers lost after the job was made (adopt it), three 5xx that made nothing
        // (prove it, then resend once), six that go through.
        let harness = LogicTimeHarness(planConcurrency: 6, hasActiveTasks: true, duration: Self.realLength) { prompt, post in
            if prompt.hasPrefix("lost") { return post == 1 ? .answerLost : nil }
            if prompt.hasPrefix("refused post") { return post == 1 ? .serverErrorMakingNothing : nil }
            return nil
        }
        let prompts = (0..<6).map { "a heron \($0)" } + (0..<3).map { "lost answer \($0)" } + (0..<3).map { "refused post \($0)" }
        for prompt in prompts { await harness.store.enqueue(prompt: prompt, now: harness.start) }
        var configuration = configuration(concurrency: 12)
        configuration.maxAttempts = 20
        let (met, _) = try await harness.run(configuration) { await harness.store.isSettled }
        let jobs = await harness.store.jobs.values.sorted { $0.id < $1.id }
        #expect(met, "\(jobs.map { "\($0.id) \($0.state): \($0.reason ?? "")" })")
        #expect(jobs.allSatisfy { $0.state == .completed })
        // One Legnext job per row, and no row's job is another's.
        #expect(harness.legnext.jobsMade == prompts.count)
        #expect(Set(jobs.compactMap(\.remoteJobId)).count == prompts.count)
        let events = await harness.store.events.values.flatMap { $0 }
        #expect(events.contains { $0.contains("found among Legnext's running jobs (active_tasks), and a GET showed this job's input") })
        #expect(events.contains { $0.hasPrefix("not created: no job of ours among Legnext's running jobs") })
    }

    @Test func withLegnextsListOfRunningJobsEachJobIsAskedAboutOnceAndTheBatchEndsNoLater() async throws {
        // The same batch, polled job by job and followed through the list (plan 6, a lead of 2).
        var runs: [(elapsed: TimeInterval, requests: [String: Int])] = []
        for list in [false, true] {
            let harness = LogicTimeHarness(planConcurrency: 6, hasActiveTasks: list, duration: Self.realLength)
            for index in 0..<60 { await harness.store.enqueue(prompt: "a wren \(index)", now: harness.start) }
            let (met, elapsed) = try await harness.run(configuration(concurrency: 8)) { await harness.store.count(.completed) == 60 }
            #expect(met, "list \(list)")
            #expect(harness.legnext.jobsMade == 60 && harness.legnext.requests["POST"] == 60)
            runs.append((elapsed, harness.legnext.requests))
        }
        let (polled, watched) = (runs[0], runs[1])
        // One GET per job, for its result, and the safety net: before the lengths are learnt,
        // a poll 30 s after submission (a job waiting its turn at Legnext runs longer).
        #expect((watched.requests["GET job"] ?? 0) <= 80, "\(watched.requests), \(watched.elapsed) s; polled \(polled.requests), \(polled.elapsed) s")
        let total = { (requests: [String: Int]) in requests.filter { $0.key != "429" }.values.reduce(0, +) }
        #expect(total(watched.requests) < total(polled.requests), "list \(watched.requests), polls \(polled.requests)")
        // Seen sooner, so never later: within a look's floor (a 40 s job's: 1 s) of the polled batch.
        #expect(watched.elapsed <= polled.elapsed + 1, "list \(watched.elapsed) s, polls \(polled.elapsed) s")
    }

    @Test func polledJobByJobTheSharedSchedulerSpendsTheRateAndEndsNoLaterThanTwoPollsAJob() async throws {
        // The same batch with no list of running jobs, polls capped at the old 2 per job, then
        // placed by the shared scheduler on the rate's headroom (plan 6, a lead of 2, 5 req/s).
        var runs: [(elapsed: TimeInterval, requests: [String: Int])] = []
        for cap in [2.0, nil] {
            let harness = LogicTimeHarness(planConcurrency: 6, rateLimit: 5, duration: Self.realLength)
            for index in 0..<60 { await harness.store.enqueue(prompt: "a heron \(index)", now: harness.start) }
            var configuration = configuration(concurrency: 8)
            configuration.pollBudget = cap
            let (met, elapsed) = try await harness.run(configuration) { await harness.store.count(.completed) == 60 }
            #expect(met, "cap \(cap ?? 0)")
            #expect(harness.legnext.jobsMade == 60 && harness.legnext.requests["POST"] == 60)
            #expect(harness.legnext.requests["429"] == nil, "\(harness.legnext.requests)")
            runs.append((elapsed, harness.legnext.requests))
        }
        let (capped, shared) = (runs[0], runs[1])
        let gets = { (run: (elapsed: TimeInterval, requests: [String: Int])) in Double(run.requests["GET job"] ?? 0) / 60 }
        // The cap holds for jobs of a learnt kind; the first wave, probed before any length is
        // known (about ten polls each for 30–49 s), adds about one a job at N = 60 ...
        #expect(gets(capped) <= 3.3, "\(capped.requests)")
        // ... and without it the headroom is spent on polls, and the batch ends no later.
        #expect(gets(shared) > gets(capped) + 1, "shared \(shared.requests), capped \(capped.requests)")
        #expect(shared.elapsed <= capped.elapsed, "shared \(shared.elapsed) s, capped \(capped.elapsed) s")
    }

    @Test func aCorrectRateSeesNo429AndAnOptimisticOneStillFinishes() async throws {
        // A server allowing 20 requests a second; the daemon told 20, then 40.
        for (rate, limitedShare) in [(20.0, 0.0), (40.0, 0.2)] {
            let harness = LogicTimeHarness(planConcurrency: 10, rateLimit: 20) { _ in 3 }
            for index in 0..<60 { await harness.store.enqueue(prompt: "steady \(index)", now: harness.start) }
            var configuration = configuration(concurrency: 10)
            configuration.rate = rate
            configuration.burst = Int(rate)
            let (met, _) = try await harness.run(configuration) { await harness.store.count(.completed) == 60 }
            #expect(met, "at \(rate)/s")
            let requests = harness.legnext.requests
            let limited = Double(requests["429"] ?? 0)
            let total = Double(requests.filter { $0.key != "429" }.values.reduce(0, +))
            if limitedShare == 0 {
                #expect(limited == 0, "at the server's rate no 429: \(requests)")
            } else {
                // The server did push back (else this half proves nothing), and the limiter backed off.
                #expect(limited > 0 && limited / total < limitedShare, "429s stay a small share at twice the rate: \(requests)")
            }
            #expect(harness.legnext.jobsMade == 60)
        }
    }
}
