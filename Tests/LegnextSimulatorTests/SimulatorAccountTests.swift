import Foundation
import LegnextAPI
import QueueSupport
import QueueTestSupport
import Testing

@testable import LegnextSimulator

/// Several accounts, each with its own key, plan, credit and rate, as Legnext meters them: a
/// job belongs to the key that made it.
@Suite(.serialized) struct SimulatorAccountTests {
    static func config() -> SimulatorConfiguration {
        var config = SimulatorConfiguration()
        config.concurrency = 1
        config.credits = 1_000
        config.otherAccounts = [SimulatorConfiguration.Account(name: "b", apiKey: "sim-key-b", credits: 80, concurrency: 1)]
        return config
    }

    @Test func eachAccountHasItsOwnSlotsCreditAndJobs() async throws {
        try await withSimulator(Self.config()) { _, baseURL in
            let a = simulatorClient(baseURL)
            let b = simulatorClient(baseURL, key: "sim-key-b")
            let c = simulatorClient(baseURL, key: "sim-key-c")
            defer { Task { for client in [a, b, c] { try? await client.shutdown() } } }
            let first = try #require(await a.submit(try LegnextRequest(DiffusionRequest(text: "a one sim:duration=30"))).value)
            _ = try #require(await a.submit(try LegnextRequest(DiffusionRequest(text: "a two sim:duration=30"))).value)
            let own = try #require(await b.submit(try LegnextRequest(DiffusionRequest(text: "b one sim:duration=30"))).value)

            // Plan 1 each: b's job runs beside a's first, a's second waits for a's slot.
            let seen = Box<(LegnextActiveTasks?, LegnextActiveTasks?)>((nil, nil))
            let running = await eventuallyAsync(timeout: 20) {
                let lists = (await a.activeTasks().value, await b.activeTasks().value)
                seen.value = lists
                return lists.0?.tasks.filter { $0.status == "processing" }.count == 1 && lists.1?.tasks.first?.status == "processing"
            }
            let (listA, listB) = seen.value
            #expect(running, "\(String(describing: listA)) \(String(describing: listB))")
            #expect(listA?.tasks.count == 2 && listA?.tasks.filter { $0.status == "pending" }.count == 1 && listA?.concurrentLimit == 1)
            #expect(listB?.tasks.map(\.jobId) == [own.jobId], "each key sees its own jobs only")

            // A job id is the account's: another key cannot read it, nor follow it up.
            guard case .rejected(let unseen) = await b.job(id: first.jobId) else {
                Issue.record("b read a's job")
                return
            }
            #expect(unseen.httpStatus == 404)
            guard case .rejected(let foreign) = await b.submit(try LegnextRequest(UpscaleRequest(jobId: first.jobId, imageNo: 0, type: 0))) else {
                Issue.record("b followed up a's job")
                return
            }
            #expect(foreign.httpStatus == 400 && foreign.error.summary.contains("not found"), "\(foreign)")

            // b's 80 points are spent; a's account goes on.
            guard case .account(let broke) = await b.submit(try LegnextRequest(DiffusionRequest(text: "b two"))) else {
                Issue.record("b submitted past its credit")
                return
            }
            #expect(broke.httpStatus == 402)
            #expect(await a.submit(try LegnextRequest(DiffusionRequest(text: "a three sim:duration=30"))).value != nil)
            let (balanceA, balanceB) = (await a.balance().value, await b.balance().value)
            #expect(balanceB?.availablePoints == 0 && balanceA?.availablePoints == 1_000 - 3 * 80)
            #expect(balanceA?.accountId != nil && balanceA?.accountId != balanceB?.accountId)

            guard case .account(let stranger) = await c.balance() else {
                Issue.record("an unknown key was served")
                return
            }
            #expect(stranger.httpStatus == 401)
            let stats = try await simulatorStats(baseURL)
            #expect(stats.number("accounts", "default", "jobs_created") == 3 && stats.number("accounts", "b", "jobs_created") == 1)
            #expect(stats.number("accounts", "b", "credits", "left") == 0 && stats.number("jobs_created") == 4)
        }
    }

    /// A freed slot goes to a job of the same account: b's short job ending frees b's slot,
    /// and a's waiting job stays pending until a's own first job ends.
    @Test func aFreedSlotGoesToItsOwnAccountsQueue() async throws {
        try await withSimulator(Self.config()) { _, baseURL in
            let a = simulatorClient(baseURL)
            let b = simulatorClient(baseURL, key: "sim-key-b")
            defer { Task { for client in [a, b] { try? await client.shutdown() } } }
            _ = try #require(await a.submit(try LegnextRequest(DiffusionRequest(text: "a long sim:duration=60"))).value)
            let waiting = try #require(await a.submit(try LegnextRequest(DiffusionRequest(text: "a waits sim:duration=1"))).value)
            let short = try #require(await b.submit(try LegnextRequest(DiffusionRequest(text: "b short sim:duration=0.2"))).value)
            #expect(await eventuallyAsync(timeout: 30) { await b.job(id: short.jobId).value?.status.rawValue == "completed" })
            #expect(await a.job(id: waiting.jobId).value?.status.rawValue == "pending", "b's free slot is not a's")
            let root = baseURL.hasSuffix("/api") ? String(baseURL.dropLast(4)) : baseURL
            let added = try await URLSessionLite.post(root + "/_sim/credits", body: Data(#"{"points": 80, "account": "b"}"#.utf8), headers: [:])
            #expect(added.1 == 200 && (try? JSONValue(data: added.0))?["left"]?.intValue == 80)
            let (balanceA, balanceB) = (await a.balance().value, await b.balance().value)
            #expect(balanceB?.availablePoints == 80 && balanceA?.availablePoints == 1_000 - 160)
            let unknown = try await URLSessionLite.post(root + "/_sim/credits", body: Data(#"{"points": 1, "account": "z"}"#.utf8), headers: [:])
            #expect(unknown.1 == 404)
        }
    }

    /// Each account's requests are counted in its own sliding second.
    @Test func eachAccountHasItsOwnRate() {
        var limited = AccountLedger(account: .init(name: "a", apiKey: "a", rateLimit: 2))
        var free = AccountLedger(account: .init(name: "b", apiKey: "b"))
        #expect(limited.admit(at: 10.0) == nil && limited.admit(at: 10.1) == nil)
        #expect(limited.admit(at: 10.2) == 1, "a third request within the second waits")
        #expect((0..<100).allSatisfy { free.admit(at: 10 + Double($0) / 1_000) == nil }, "another account is not held up")
        #expect(limited.admit(at: 11.05) == nil, "a second after the first, there is room again")
        #expect(limited.rateLimited == 1 && limited.peakPerSecond == 2)
        var huge = AccountLedger(account: .init(name: "c", apiKey: "c", credits: .max, rateLimit: 1e300))
        #expect(huge.admit(at: 1) == nil && huge.available == AccountLedger.maxPoints, "no trap on a huge rate or credit")
        #expect(SimulatorState.accountUUID(0) == "5e1d7a3c-0b2f-4c1e-9a6d-1f2e3d4c5b6a" && SimulatorState.accountUUID(1).hasSuffix("-1f2e3d4c5b6b"))
    }

    @Test func accountsAreWrittenAsTheCommandLineTakesThem() throws {
        let account = try SimulatorConfiguration.Account(parsing: "name=b,key=sim-key-b,credits=800,concurrency=6,rate=5")
        #expect(account == .init(name: "b", apiKey: "sim-key-b", credits: 800, concurrency: 6, rateLimit: 5))
        for bad in [
            "name=b", "key=k", "name=b,key=k,credits=-1", "name=b,key=k,colour=red", "name=b,key=k,rate", "name=b,key=k,rate=inf",
            "name=b,key=k,rate=1e19",
        ] {
            #expect(throws: SimulatorConfiguration.AccountError.self, "\(bad)") { try SimulatorConfiguration.Account(parsing: bad) }
        }
    }
}
