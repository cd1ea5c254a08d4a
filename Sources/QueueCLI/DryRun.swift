import Foundation
import LegnextAPI
import Logging
import QueueSupport

/// `enqueue --dry-run`: the jobs as checked, the points Legnext's docs say they freeze, and the
/// balance they would draw on (read with the key, when one is at hand).
struct DryRun {
    var drafts: [JobDraft]
    var apiKeyFile: String?
    var baseURL: String?

    func report() async throws {
        var lines = ["would enqueue \(drafts.count) job\(drafts.count == 1 ? "" : "s") (nothing was enqueued):"]
        for draft in drafts.prefix(20) {
            let what = draft.prompt.map { "\"\($0.truncated(60))\"" } ?? draft.parent.map { "of job \($0)" } ?? ""
            let points = LegnextKind(rawValue: draft.kind)?.documentedPoints.map { "\($0) points" } ?? "points not documented"
            lines.append("  \(draft.kind)\(what.isEmpty ? "" : " " + what)\(draft.tag.map { " [\($0)]" } ?? "") — \(points)")
        }
        if drafts.count > 20 { lines.append("  … and \(drafts.count - 20) more") }
        var known = 0
        var unpriced: [String: Int] = [:]
        for draft in drafts {
            if let points = LegnextKind(rawValue: draft.kind)?.documentedPoints { known += points } else { unpriced[draft.kind, default: 0] += 1 }
        }
        var total = "points frozen at submission: \(countText(known))"
        if !unpriced.isEmpty {
            total +=
                " + \(unpriced.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")) whose price Legnext's docs do not give"
        }
        lines.append(total)
        lines.append(await balanceLine(needed: known))
        print(lines.joined(separator: "\n"))
    }

    private func balanceLine(needed: Int) async -> String {
        guard apiKeyFile != nil || ProcessInfo.processInfo.environment["LEGNEXT_API_KEY"] != nil else {
            return "balance: not read (no API key: set LEGNEXT_API_KEY or pass --api-key-file to compare)"
        }
        let key: APIKey
        do {
            key = try APIKeySource.load(file: apiKeyFile)
        } catch {
            return "balance: not read (\(error))"
        }
        let url = baseURL ?? ProcessInfo.processInfo.environment["LEGNEXT_BASE_URL"] ?? LegnextClientConfiguration.defaultBaseURL
        let client = LegnextClient(configuration: LegnextClientConfiguration(baseURL: url, apiKey: key), logger: Logger(label: "legnext-queue"))
        let outcome = await client.balance()
        try? await client.shutdown()
        switch outcome {
        case .success(let balance):
            let points = max(balance.availablePoints ?? 0, balance.availableCredits ?? 0)
            let usd = balance.balanceUSD.map { String(format: " ($%.2f)", $0) } ?? ""
            let verdict = points >= needed ? "enough" : "not enough: \(countText(needed - points)) short"
            return "balance: \(countText(points)) points available\(usd) — \(verdict)"
        case .account(let failure), .rejected(let failure):
            return "balance: not read (HTTP \(failure.httpStatus): \(failure.error.summary))"
        case .rateLimited:
            return "balance: not read (rate limited; try again)"
        case .transient(let failure):
            return "balance: not read (\(failure))"
        }
    }
}
