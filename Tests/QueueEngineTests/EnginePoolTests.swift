import Foundation
import QueueEngine
import QueueStore
import QueueTestSupport
import Testing

/// Several accounts draining one queue on logic time: each account's Legnext is its own script
/// (its own plan and jobs), the queue is shared.
@Suite struct EnginePoolTests {
    static func account(_ name: String, _ legnext: ScriptedLegnext, priority: Int = 0) -> EnginePool.Account {
        var configuration = EngineConfiguration()
        configuration.route = AccountRoute(name: name, all: [name])
        configuration.concurrency = 6
        configuration.rate = 5
        configuration.burst = 5
        configuration.priority = priority
        configuration.exitWhenIdle = true
        return EnginePool.Account(configuration: configuration, legnext: legnext)
    }

    func secondLegnext(_ harness: LogicTimeHarness) -> ScriptedLegnext {
        ScriptedLegnext(clock: harness.clock, concurrency: 6, activity: harness.activity, duration: LogicTimeEngineTests.realLength)
    }

    /// Two plans of 6 run twelve jobs at once: 60 jobs of 30–49 s need at least ten waves (300 s)
    /// on one plan, and finish well inside that on two, each account within its own plan.
    @Test func twoAccountsDrainABatchInAboutHalfTheTime() async throws {
        let harness = LogicTimeHarness(planConcurrency: 6, duration: LogicTimeEngineTests.realLength)
        let b = secondLegnext(harness)
        for index in 0..<60 { await harness.store.enqueue(prompt: "a fox, study \(index)", now: harness.start) }
        let (met, elapsed) = try await harness.run(pool: [Self.account("a", harness.legnext), Self.account("b", b)]) {
            await harness.store.count(.completed) == 60
        }
        #expect(met)
        #expect(harness.legnext.jobsMade + b.jobsMade == 60 && harness.legnext.jobsMade > 0 && b.jobsMade > 0)
        #expect(harness.legnext.peakProcessing <= 6 && b.peakProcessing <= 6)
        #expect(elapsed < 300, "two plans ran side by side: \(elapsed) s of logic time")
        let jobs = await harness.store.jobs.values
        #expect(jobs.filter { $0.remoteAccount == "b" }.count == b.jobsMade, "each job records the account that sent it")
    }

    /// A job goes where it starts soonest: while one account has a free slot of its plan, the
    /// other does not queue a job behind its own plan (its lead), so no job waits at Legnext
    /// while a slot is free elsewhere.
    @Test func aJobGoesToAFreeSlotBeforeAnotherAccountsQueue() async throws {
        let harness = LogicTimeHarness(planConcurrency: 6, duration: LogicTimeEngineTests.realLength)
        let b = secondLegnext(harness)
        for index in 0..<12 { await harness.store.enqueue(prompt: "a fox, study \(index)", now: harness.start) }
        var a = Self.account("a", harness.legnext)
        var other = Self.account("b", b)
        for index in [0, 1] {
            var configuration = index == 0 ? a.configuration : other.configuration
            configuration.plan = 6
            configuration.concurrency = 9
            configuration.rate = 50
            configuration.burst = 50
            if index == 0 { a.configuration = configuration } else { other.configuration = configuration }
        }
        let (met, _) = try await harness.run(pool: [a, other]) { await harness.store.count(.completed) == 12 }
        #expect(met)
        #expect(harness.legnext.jobsMade == 6 && b.jobsMade == 6, "\(harness.legnext.jobsMade) and \(b.jobsMade)")
        #expect(harness.legnext.peakUnfinished <= 6 && b.peakUnfinished <= 6, "no job queued at Legnext while a slot was free")
    }

    /// A pinned job goes to its account only, and a job pinned to an account the pool does not
    /// run fails at its claim with what to do.
    @Test func pinsAreHonouredAndAnUnknownPinFailsWithTheReason() async throws {
        let harness = LogicTimeHarness(planConcurrency: 6, duration: LogicTimeEngineTests.realLength)
        let b = secondLegnext(harness)
        var pinned: [Int64] = []
        for index in 0..<10 { pinned.append(await harness.store.enqueue(prompt: "for b \(index)", account: "b", now: harness.start)) }
        let stray = await harness.store.enqueue(prompt: "for c", account: "c", now: harness.start)
        let (met, elapsed) = try await harness.run(pool: [Self.account("a", harness.legnext, priority: 1), Self.account("b", b)]) {
            await harness.store.isSettled
        }
        #expect(met)
        // Two waves of 30–49 s on b's plan of 6: a, preferred but with nothing it may take, never
        // held b back.
        #expect(elapsed < 120, "\(elapsed) s of logic time")
        let jobs = await harness.store.jobs
        #expect(pinned.allSatisfy { jobs[$0]?.state == .completed && jobs[$0]?.remoteAccount == "b" })
        #expect(harness.legnext.jobsMade == 0, "a, of higher priority, took none of b's")
        #expect(jobs[stray]?.state == .failed)
        let error = jobs[stray]?.error ?? ""
        #expect(error.contains("pinned to account c, which the daemon does not run (it runs a, b)"), "\(error)")
    }
}
