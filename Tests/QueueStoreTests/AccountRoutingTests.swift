import Foundation
import Testing

@testable import QueueStore

/// Which queued jobs each account's claim takes, on a real SQLite file.
@Suite struct AccountRoutingTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    var t0: Date { Self.t0 }
    /// The old single key's account is `default`: it owns the jobs sent before accounts were.
    let a = AccountRoute(name: "default", all: ["default", "b"])
    let b = AccountRoute(name: "b", all: ["default", "b"])

    static func register(_ store: QueueStore, _ names: [String]) async throws {
        try await store.registerAccounts(names.map { AccountInfo(name: $0, concurrency: 4, rate: 2) }, now: t0)
    }

    /// A completed job made on `route`'s account (or, with nil, before accounts were recorded).
    static func completedParent(_ fixture: StoreFixture, _ route: AccountRoute?, prompt: String) async throws -> Int64 {
        let store = fixture.store
        let id = try store.enqueue([NewJob(prompt: prompt)]).ids[0]
        let claimed = try await store.claim(limit: 1, now: t0, route: route ?? .single)
        #expect(claimed.jobs.map(\.job.id) == [id])
        if route == nil { #expect(try fixture.shell("UPDATE jobs SET remote_account = NULL WHERE id = \(id);").status == 0) }
        try await store.markSubmitted(id: id, remoteJobId: "R\(id)", status: .pending, nextPollAt: t0, now: t0)
        try await store.applyRemote(id: id, update: RemoteUpdate(status: .completed), nextPollAt: nil, now: t0)
        return id
    }

    static func upscale(of parent: Int64, account: String? = nil) -> NewJob {
        NewJob(kind: "upscale", prompt: nil, params: #"{"imageNo":1,"type":0}"#, parentId: parent, account: account)
    }

    @Test func followUpsGoToTheirParentsAccountAndPinsToTheirs() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try await Self.register(fixture.store, ["default", "b"])
        let madeOnB = try await Self.completedParent(fixture, b, prompt: "made on b")
        let madeBefore = try await Self.completedParent(fixture, nil, prompt: "made before accounts")
        let ids = try fixture.store.enqueue([
            Self.upscale(of: madeOnB),  // b's
            Self.upscale(of: madeBefore),  // default's
            NewJob(prompt: "pinned to b", account: "b"),
            Self.upscale(of: madeOnB, account: "default"),  // pinned against its parent: fails
            NewJob(prompt: "anyone's"),
        ]).ids

        let forA = try await fixture.store.claim(limit: 10, now: t0, route: a)
        #expect(forA.jobs.map(\.job.id).sorted() == [ids[1], ids[4]])
        #expect(forA.jobs.allSatisfy { $0.job.remoteAccount == "default" })
        #expect(forA.failed.map(\.id) == [ids[3]])
        #expect(forA.failed.first?.reason.contains("its parent job \(madeOnB) was made on account b") == true, "\(forA.failed)")

        let forB = try await fixture.store.claim(limit: 10, now: t0, route: b)
        #expect(forB.jobs.map(\.job.id).sorted() == [ids[0], ids[2]])
        #expect(forB.jobs.first { $0.job.id == ids[0] }?.parent?.remoteJobId == "R\(madeOnB)")
        #expect(try fixture.store.detail(ids[3]).job.error?.contains("pin it to b or unpin it") == true)
    }

    /// A pin to an account the daemon no longer runs (left out of a later start) fails at the
    /// claim with what to do, rather than waiting for ever; so does a follow-up of its jobs.
    @Test func jobsNoAccountOfTheDaemonCanSendFailWithTheReason() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        try await Self.register(fixture.store, ["a", "b"])
        let madeOnB = try await Self.completedParent(fixture, b, prompt: "made on b")
        let ids = try fixture.store.enqueue([NewJob(prompt: "pinned to b", account: "b"), Self.upscale(of: madeOnB)]).ids
        try await Self.register(fixture.store, ["a"])
        let onlyA = AccountRoute(name: "a", all: ["a"])
        // The pin at start-up (no claim walks another account's pins), the follow-up at its claim.
        #expect(try await fixture.store.failUnroutablePins(route: onlyA, now: t0).map(\.id) == [ids[0]])
        let batch = try await fixture.store.claim(limit: 10, now: t0, route: onlyA)
        #expect(batch.jobs.isEmpty)
        #expect(batch.failed.map(\.id) == [ids[1]])
        let pinned = try fixture.store.detail(ids[0]).job
        #expect(pinned.state == .failed && pinned.error?.contains("pinned to account b, which the daemon does not run (it runs a)") == true)
        #expect(try fixture.store.detail(ids[1]).job.error?.contains("start the daemon with --account b") == true)
        // The account left out keeps its row and points, inactive: a new pin to it is refused.
        #expect(try fixture.store.accounts(includingInactive: true).map(\.name) == ["a", "b"])
        #expect(throws: StoreError.self) { try fixture.store.enqueue([NewJob(prompt: "x", account: "b")]) }
    }

    /// Points spent are kept per account: jobs made before accounts were recorded are
    /// `default`'s, and a start counts them again from the rows, so a row a person inserted
    /// with its points (no trigger sees an insert) is counted too.
    @Test func pointsAreKeptPerAccountAndCountedAgainAtStart() async throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let store = fixture.store
        let before = try await Self.completedParent(fixture, nil, prompt: "made before accounts")
        #expect(try fixture.shell("UPDATE jobs SET credits_used = 8 WHERE id = \(before);").status == 0)
        try await Self.register(store, ["default", "b"])
        let onB = try await Self.completedParent(fixture, b, prompt: "made on b")
        #expect(try fixture.shell("UPDATE jobs SET credits_used = 5 WHERE id = \(onB);").status == 0)
        let afterwards = try await Self.completedParent(fixture, nil, prompt: "sent before, finished after")
        #expect(try fixture.shell("UPDATE jobs SET credits_used = 3 WHERE id = \(afterwards);").status == 0)
        func points() throws -> [String: Int] {
            Dictionary(uniqueKeysWithValues: try store.accounts(includingInactive: true).map { ($0.name, $0.creditsUsed) })
        }
        #expect(try points() == ["default": 11, "b": 5])
        #expect(try store.status().creditsUsed == 16)

        // By hand: a job's account changed, a row inserted with points. No trigger moves them.
        #expect(try fixture.shell("UPDATE jobs SET remote_account = 'b' WHERE id = \(afterwards);").status == 0)
        #expect(try fixture.shell("INSERT INTO jobs (prompt, credits_used) VALUES ('by hand', 2);").status == 0)
        #expect(try points() == ["default": 11, "b": 5])
        try await store.recount()
        try await Self.register(store, ["b"])
        #expect(try points() == ["default": 10, "b": 8])
        #expect(try store.status().creditsUsed == 18)
        #expect(try fixture.shell("DELETE FROM jobs WHERE id = \(before);").status == 0)
        #expect(try points() == ["default": 2, "b": 8])
        #expect(try store.status().creditsUsed == 10)
    }

    @Test func accountNamesAreChecked() {
        for name in ["a", "pro-2", "team_b", "0"] { #expect(AccountRoute.isValidName(name), "\(name)") }
        for name in ["", "-a", "_a", "A", "a b", "a,b", String(repeating: "a", count: 33), "é"] {
            #expect(!AccountRoute.isValidName(name), "\(name)")
        }
    }
}

/// The claim's plan: each account walks the unpinned queue and its own pins by index, never
/// the pins of another account (nor sorts every queued row).
@Suite struct AccountClaimPlanTests {
    @Test func aClaimWalksTheUnpinnedQueueAndItsOwnPinsOnly() async throws {
        let plan = try await QueryPlanTests.claimPlan()
        #expect(plan.contains { $0.contains("USING INDEX jobs_claim") }, "\(plan)")
        #expect(plan.contains { $0.contains("USING INDEX jobs_pinned (account=?)") }, "\(plan)")
        // Each list is at most a claim's size; the merge sorts those, never the queue.
        #expect(plan.filter { $0.contains("TEMP B-TREE") }.count <= 2, "\(plan)")
        #expect(plan.contains { $0.contains("MERGE (UNION ALL)") }, "\(plan)")
    }
}
