import Foundation
import LegnextAPI

extension QueueEngine {
    /// How often an account of a pool reads its balance (free at Legnext) for `status` and the
    /// console; a paused account's balance checks record theirs too.
    static let balanceInterval: TimeInterval = 60

    /// In a pool: reads the account's balance now and then, through its rate limiter, and
    /// records it in its `accounts` row (alone, the console reads the one balance itself).
    func balanceLoop() async {
        guard lanes != nil else { return }
        while !Task.isCancelled, !isStopping {
            guard let ticket = try? await limiter.acquire(.poll) else { break }
            if isStopping {
                limiter.giveBack(ticket)
                break
            }
            let outcome = await legnext.balance()
            limiter.finished(ticket, outcome.budgetResult)
            EngineMetrics.request(account: route.name, "GET /account/balance", outcome)
            if case .success(let balance) = outcome { await recordBalance(balance) }
            await clock.wait(for: stopSignal, until: clock.now().addingTimeInterval(Self.balanceInterval))
        }
    }

    func recordBalance(_ balance: LegnextBalance) async {
        let points = balance.availablePoints ?? balance.availableCredits
        await logged("record account \(route.name)'s balance") {
            try await store.recordBalance(route.name, points: points, usd: balance.balanceUSD, now: clock.now())
        }
    }
}
