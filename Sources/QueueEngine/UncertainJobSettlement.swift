import Foundation
import LegnextAPI

/// One uncertain job being settled by looking at Legnext's running jobs: which of them could be
/// the job its lost POST made, what a look proved, and its verdict once its window has passed.
/// A pure value: the engine does the looking, the GETs and the writes, and feeds the results in.
///
/// The reasoning: a POST whose answer was lost may or may not have made a Legnext job; if it did,
/// that job runs for at least the shortest plausible time of its kind (the *window*) and
/// `GET /account/active_tasks` lists it meanwhile, under an id no row holds. A running job of the
/// kind, created while the POST was under way, whose `input` is this row's, is adopted. A look
/// begun after the POST's fate was sealed and answered within the window that shows none proves
/// the POST made nothing: the job is sent again. Without such proof it is looked for until
/// ``horizon`` windows have passed, then left for a person.
struct UncertainJobSettlement: Sendable {
    /// How far Legnext's clock (`created_at`) may be from ours.
    static let clockSkew: TimeInterval = 2
    /// Without proof of absence, a job is looked for until this many windows after its POST:
    /// four times the shortest job, past the longest the documented ranges allow (three times).
    static let horizon: Double = 8
    /// The longest wait between two looks while jobs are being settled.
    static let longestLookGap: TimeInterval = 5

    let id: Int64
    let kind: String
    /// ``QueueStore/Job/submissionFingerprint`` of its row (what its POST sent, short of the callback).
    let fingerprint: String
    /// The POST left at or after this.
    let sentAt: Date
    /// By this the POST's fate was sealed: its failure was answered, or the process that sent it was gone.
    let answeredAt: Date
    /// Running jobs already looked at and found not this one's.
    private(set) var ruledOut: Set<String> = []
    /// Legnext jobs a callback named for this job and not yet ruled out: evidence that its POST
    /// made one, so no look's proof of absence resends it while any is left.
    var named: Set<String> = []
    private(set) var looks = 0
    /// When the first look begun after `answeredAt` that found nothing of ours was answered:
    /// within the window, proof that the POST made nothing.
    private(set) var firstAbsentLook: Date?

    init(id: Int64, kind: String, fingerprint: String, sentAt: Date, answeredAt: Date) {
        self.id = id
        self.kind = kind
        self.fingerprint = fingerprint
        self.sentAt = sentAt
        self.answeredAt = answeredAt
    }

    /// The window in which a job made by a lost POST of `kind` must still be running: half the
    /// shortest duration seen of that kind; before one is seen, the documented prior, scaled
    /// down by what the kinds seen so far showed (a server whose diffusions end in a second runs
    /// its upscales in seconds too).
    static func window(kind: String, shortestDurations seen: [String: Double]) -> TimeInterval {
        func prior(_ kind: String) -> Double { LegnextKind(rawValue: kind)?.shortestPlausibleSeconds ?? 10 }
        if let shortest = seen[kind] { return min(prior(kind), shortest / 2) }
        let scale = seen.map { min(1, $0.value / 2 / prior($0.key)) }.min() ?? 1
        return prior(kind) * scale
    }

    /// `task_type` as Legnext writes it (`video_diffusion` or `video-diffusion`) against a kind.
    static func sameKind(_ taskType: String?, _ kind: String) -> Bool {
        guard let taskType else { return true }
        return taskType.lowercased().replacingOccurrences(of: "_", with: "-") == kind
    }

    /// The running jobs that could be the one its POST made, oldest first: of its kind, held by
    /// no row (`held`), not ruled out before, created while the POST was under way.
    func candidates(among tasks: [LegnextActiveTasks.Task], held: Set<String>) -> [LegnextActiveTasks.Task] {
        tasks.filter { task in
            guard !held.contains(task.jobId), !ruledOut.contains(task.jobId), Self.sameKind(task.taskType, kind) else { return false }
            guard let created = task.createdAt else { return true }
            return created >= sentAt.addingTimeInterval(-Self.clockSkew) && created <= answeredAt.addingTimeInterval(Self.clockSkew)
        }
        .sorted { ($0.createdAt ?? .distantPast) < ($1.createdAt ?? .distantPast) }
    }

    /// A look begun at `lookStarted` and answered at `answered` adopted nothing for this job:
    /// `ruledOut` are candidates a GET showed are not its own, `unverified` whether a candidate
    /// could not be read. Nothing of ours in a look begun after the POST's fate was sealed is
    /// evidence of absence (whether it came within the window is judged at the verdict).
    /// The job a callback named was read and is not this one's.
    mutating func namedRuledOut(_ jobId: String) {
        named.remove(jobId)
        ruledOut.insert(jobId)
    }

    mutating func lookFoundNothing(ruledOut: Set<String>, unverified: Bool, lookStarted: Date, answered: Date) {
        looks += 1
        self.ruledOut.formUnion(ruledOut)
        if !unverified, lookStarted >= answeredAt, firstAbsentLook == nil { firstAbsentLook = answered }
    }

    enum Verdict: Sendable, Equatable {
        /// A look proved its POST made nothing: send it again, with this evidence.
        case resend(evidence: String)
        /// No look could prove it either way: a person decides.
        case leave(why: String)
    }

    /// The verdict at `now` for a job of this `window`, or nil while it should still be looked for.
    func verdict(now: Date, window: TimeInterval) -> Verdict? {
        let closes = sentAt.addingTimeInterval(window)
        guard now >= closes else { return nil }
        let seconds = String(format: "%.1f", now.timeIntervalSince(sentAt))
        if let absent = firstAbsentLook, absent < closes, named.isEmpty {
            return .resend(
                evidence:
                    "not created: no job of ours among Legnext's running jobs (active_tasks) for \(seconds)s after the POST (\(looks) looks; a \(kind) runs longer), so it is sent again"
            )
        }
        // Without proof, keep looking while a job the POST made could still be running.
        guard now >= sentAt.addingTimeInterval(window * Self.horizon) else { return nil }
        if let job = named.sorted().first {
            return .leave(
                why:
                    "still uncertain: a callback named Legnext job \(job) as its own, but it could not be confirmed (a GET with its input), so it is not sent again (\(looks) looks at Legnext's running jobs over \(seconds)s); `legnext-queue retry` resends it, `cancel` settles it"
            )
        }
        let sealed = String(format: "%.1f", answeredAt.timeIntervalSince(sentAt))
        return .leave(
            why:
                "still uncertain: no look at Legnext's running jobs could prove its POST made none (such a look must come after Legnext is surely done with the POST, \(sealed)s after it left, and while a job it made would still run, within \(String(format: "%.1f", window))s; \(looks) looks), and none was its own for \(seconds)s; `legnext-queue retry` resends it, `cancel` settles it"
        )
    }

    /// How long this job would have the next look wait: just past the moment its POST is sealed
    /// (the look that can prove most); then within its window a quarter of what is left, so it
    /// gets several looks before its verdict; past it (still looking for its job), one per window.
    func nextLookGap(now: Date, window: TimeInterval) -> TimeInterval {
        let sealed = answeredAt.timeIntervalSince(now)
        if sealed > 0 { return sealed + 0.01 }
        let left = sentAt.addingTimeInterval(window).timeIntervalSince(now)
        return left > 0 ? left / 4 : window
    }
}
