import Foundation
import LegnextAPI
import Logging

/// What is left at Legnext, for the overview: `GET /account/balance` (it costs nothing), read at
/// most once a minute however often pages ask, with the key the daemon or `ui` was given. A
/// page never waits on Legnext: it shows the last reading while one request refreshes it.
public actor BalanceReader {
    private let baseURL: @Sendable () async -> String
    private let key: APIKey
    private let logger: Logger
    private var client: LegnextClient?
    private var cached: (at: ContinuousClock.Instant, text: String)?
    private var refreshing: Task<Void, Never>?
    private let clock = ContinuousClock()

    public init(baseURL: @escaping @Sendable () async -> String, key: APIKey, logger: Logger) {
        self.baseURL = baseURL
        self.key = key
        self.logger = logger
    }

    /// "$12.34 and 33,000 points", why it could not be read, or nil before the first answer.
    func text() -> String? {
        if refreshing == nil, cached.map({ clock.now - $0.at >= .seconds(60) }) ?? true {
            refreshing = Task { await refresh() }
        }
        return cached?.text
    }

    private func refresh() async {
        if client == nil {
            let url = await baseURL()
            client = LegnextClient(configuration: LegnextClientConfiguration(baseURL: url, apiKey: key), logger: logger)
        }
        let text: String
        switch await client!.balance() {
        case .success(let balance):
            let usd = balance.balanceUSD.map { String(format: "$%.2f", $0) }
            let points = max(balance.availablePoints ?? 0, balance.availableCredits ?? 0)
            text = [usd, ConsoleFormat.count(points) + " points"].compactMap { $0 }.joined(separator: " and ")
        case .account(let failure), .rejected(let failure):
            text = "not known (HTTP \(failure.httpStatus): \(failure.error.summary))"
        case .rateLimited:
            text = "not known (rate limited)"
        case .transient:
            text = "not known (Legnext did not answer)"
        }
        cached = (clock.now, text)
        refreshing = nil
    }

    func shutdown() async {
        await refreshing?.value
        try? await client?.shutdown()
        client = nil
    }
}
