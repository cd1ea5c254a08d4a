import Foundation
import QueueStore
import QueueSupport

/// How the console writes times, counts and durations.
enum ConsoleFormat {
    /// UTC, to the second: `2026-12-03 14:22:11`.
    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// 1,234,567.
    static func count(_ n: Int) -> String { countText(n) }

    /// About how long: `45 s`, `12 min`, `3 h 20 min`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "—" }
        if seconds < 90 { return "\(Int(seconds.rounded())) s" }
        let minutes = Int((seconds / 60).rounded())
        if minutes < 90 { return "\(minutes) min" }
        return "\(minutes / 60) h \(minutes % 60) min"
    }

    /// A value for a link's query: everything but ASCII letters, digits and `-._~`
    /// percent-encoded (a Location header must be ASCII, and `.alphanumerics` is not).
    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A long text cut to `limit` characters.
    static func short(_ text: String?, _ limit: Int = 120) -> String {
        guard let text else { return "" }
        return text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}
