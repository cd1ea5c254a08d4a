import Foundation
import Testing

@testable import LegnextAPI
@testable import QueueEngine
@testable import QueueSupport

/// What one look at Legnext's running jobs means for the jobs in flight, and when the next
/// look comes, with no I/O: jobs 1… were accepted at t0, the look began at t0 + 10.
@Suite struct RunningJobsWatchTests {
    typealias Task = LegnextActiveTasks.Task
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    var started: Date { t0 + 10 }
    var answered: Date { t0 + 10.05 }

    func followed(_ ids: ClosedRange<Int64>, at offset: TimeInterval = 0) -> [RunningJobsWatch.Followed] {
        ids.map { RunningJobsWatch.Followed(id: $0, remoteJobId: "r\($0)", kind: "diffusion", followedAt: t0 + offset) }
    }

    func task(_ id: Int64, _ status: String, left: Double? = nil, progress: Double? = nil) -> Task {
        Task(jobId: "r\(id)", taskType: "diffusion", status: status, createdAt: t0, progress: progress, estimatedTime: left)
    }

    func list(_ tasks: [Task], total: Int? = nil, limit: Int? = nil) throws -> LegnextActiveTasks {
        var list = try LegnextActiveTasks(json: ["tasks": []])
        list.tasks = tasks
        list.totalActive = total ?? tasks.count
        list.concurrentLimit = limit
        return list
    }

    func gap(_ reading: RunningJobsWatch.Reading) -> TimeInterval { reading.nextLook.timeIntervalSince(answered) }

    @Test func aJobGoneFromTheListOrListedEndedIsAskedAboutAndOnlyOnce() throws {
        var watch = RunningJobsWatch()
        let jobs = followed(1...3)
        let first = watch.read(
            try list([task(2, "completed"), task(3, "processing", left: 8)]),
            followed: jobs,
            lookStarted: started,
            answered: answered
        ) { _ in nil }
        #expect(first.ended == [1, 2])
        // Until its GET is answered, a job asked about is not asked about again.
        let second = watch.read(try list([task(3, "processing", left: 8)]), followed: jobs, lookStarted: started + 1, answered: answered + 1) { _ in
            nil
        }
        #expect(second.ended.isEmpty)
    }

    @Test func absenceProvesNothingForAJobAcceptedAfterTheLookBeganOrInAPartialList() throws {
        var watch = RunningJobsWatch()
        let late = followed(1...1, at: 10.01)
        #expect(watch.read(try list([]), followed: late, lookStarted: started, answered: answered) { _ in nil }.ended.isEmpty)
        // total_active says more run than are listed: the list is cut short.
        let partial = try list([task(2, "processing", left: 3)], total: 5)
        #expect(watch.read(partial, followed: followed(1...2), lookStarted: started, answered: answered) { _ in nil }.ended.isEmpty)
    }

    @Test func aJobTheListLeftOutWhileItRanIsPolledOnItsOwnFromThenOn() throws {
        var watch = RunningJobsWatch()
        #expect(watch.read(try list([]), followed: followed(1...2), lookStarted: started, answered: answered) { _ in nil }.ended == [1, 2])
        watch.answered(1, ended: false)
        watch.answered(2, ended: true)
        #expect(!watch.watches(1) && watch.watches(2))
        let again = watch.read(try list([]), followed: followed(1...1), lookStarted: started + 1, answered: answered + 1) { _ in nil }
        #expect(again.ended.isEmpty)
        // A poll not sent by a look teaches nothing about the list.
        watch.answered(3, ended: false)
        #expect(watch.watches(3))
    }

    @Test func progressIsReportedOnceEachStepAndNeverAnEnd() throws {
        var watch = RunningJobsWatch()
        let jobs = followed(1...2)
        let first = watch.read(
            try list([task(1, "pending"), task(2, "processing", left: 4)]),
            followed: jobs,
            lookStarted: started,
            answered: answered
        ) { _ in nil }
        #expect(first.progressed == [1: .pending, 2: .processing])
        let second = watch.read(
            try list([task(1, "processing", left: 4), task(2, "processing", left: 3)]),
            followed: jobs,
            lookStarted: started + 1,
            answered: answered + 1
        ) { _ in nil }
        #expect(second.progressed == [1: .processing])
    }

    @Test func withNoJobQueuedAtLegnextTheNextLookIsAtHalfTheSoonestEnd() throws {
        var watch = RunningJobsWatch()
        // A job `pending` on a plan with slots to spare is starting, not queued: its end counts too.
        let tasks = [task(1, "processing", left: 3), task(2, "pending", left: 1.6), task(3, "processing", left: 5)]
        let reading = watch.read(try list(tasks, limit: 10), followed: followed(1...3), lookStarted: started, answered: answered) { _ in nil }
        #expect(abs(gap(reading) - 0.8) < 1e-6)
    }

    @Test func withJobsQueuedAtLegnextASlotIdlesOnlyAfterOneMoreEndThanAreQueued() throws {
        var watch = RunningJobsWatch()
        // A plan of 4 and 6 unfinished: two are queued, so the third end is the first to idle a slot.
        let tasks = [
            task(1, "processing", left: 1), task(2, "processing", left: 2), task(3, "processing", left: 3), task(4, "processing", left: 9),
            task(5, "pending", left: 6), task(6, "pending", left: 6),
        ]
        let reading = watch.read(try list(tasks, limit: 4), followed: followed(1...6), lookStarted: started, answered: answered) { _ in nil }
        #expect(abs(gap(reading) - 1.5) < 1e-6)
        // Others' jobs on the account count toward the plan's limit too.
        var other = RunningJobsWatch()
        let ours = [task(1, "processing", left: 1), task(2, "processing", left: 2), task(3, "pending", left: 6)]
        let shared = other.read(try list(ours, total: 4, limit: 3), followed: followed(1...3), lookStarted: started, answered: answered) { _ in nil }
        #expect(abs(gap(shared) - 1) < 1e-6, "one queued: the second end")
        // Nothing of ours listed: the ceiling, and a job followed since is looked for at half its typical length.
        var empty = RunningJobsWatch()
        #expect(gap(empty.read(try list([]), followed: [], lookStarted: started, answered: answered) { _ in nil }) == RunningJobsWatch.ceiling)
        #expect(RunningJobsWatch.firstLook(followedAt: t0, typical: 4) == t0 + 2)
        #expect(RunningJobsWatch.firstLook(followedAt: t0, typical: nil) == t0 + 1)
        #expect(RunningJobsWatch.firstLook(followedAt: t0, typical: 600) == t0 + RunningJobsWatch.ceiling)
    }

    @Test func theTimeLeftIsTheLeastOfTheEstimateTheTypicalLengthAndTheJobsOwnPace() throws {
        var watch = RunningJobsWatch()
        let jobs = followed(1...1)
        // Legnext's estimate is rounded up to whole seconds: progress says less is left.
        let first = watch.read(try list([task(1, "processing", left: 3, progress: 50)]), followed: jobs, lookStarted: started, answered: answered) {
            _ in 4
        }
        #expect(abs(gap(first) - 1) < 1e-6, "half of (1 − 50 %) × 4 s")
        // 50 % → 90 % in 1 s: its own pace leaves 0.25 s; half of that is under the floor (4 s ÷ 40).
        let second = watch.read(
            try list([task(1, "processing", left: 1, progress: 90)]),
            followed: jobs,
            lookStarted: started + 1,
            answered: answered + 1
        ) { _ in 40 }
        #expect(abs(second.nextLook.timeIntervalSince(answered + 1) - 1) < 1e-6, "the floor of a 40 s job: 1 s")
    }

    @Test func looksBackOffFromAJobStillListedPastEveryGuessOfItsEnd() throws {
        var watch = RunningJobsWatch()
        let jobs = followed(1...1)
        let stuck = try list([task(1, "processing", left: 0, progress: 99)], limit: 10)
        var at = answered
        var gaps: [TimeInterval] = []
        for _ in 0..<8 {
            let reading = watch.read(stuck, followed: jobs, lookStarted: at - 0.05, answered: at) { _ in 40 }
            gaps.append(reading.nextLook.timeIntervalSince(at))
            at = reading.nextLook
        }
        // From the floor (a 40 s job's: 1 s), each wait half as long again as the job has been overdue.
        #expect(gaps.first == 1)
        #expect(zip(gaps, gaps.dropFirst()).allSatisfy { $1 >= $0 } && gaps.last! > 5 - 1e-6, "\(gaps)")
    }

    @Test func theFloorScalesWithTheShortestTypicalJobAndNeverFallsUnderATenthOfASecond() {
        #expect(RunningJobsWatch.floor(lengths: [40, 90]) == 1)
        #expect(RunningJobsWatch.floor(lengths: [2]) == RunningJobsWatch.shortestGap)
        #expect(RunningJobsWatch.floor(lengths: []) == RunningJobsWatch.shortestGap)
    }
}
