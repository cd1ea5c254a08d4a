import Foundation
import QueueStore
import QueueSupport

/// Parses `--after` values and prints ages.
enum TimeSpec {
    /// A duration such as `90`, `30s`, `5m`, `1h30m`, `2d`, `1w`, `250ms`; nil if it is not one.
    static func duration(_ text: String) -> TimeInterval? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !s.isEmpty else { return nil }
        if let seconds = Double(s), seconds >= 0, seconds.isFinite { return seconds }
        var total = 0.0
        var number = ""
        var index = s.startIndex
        var sawUnit = false
        while index < s.endIndex {
            let c = s[index]
            if c.isNumber || c == "." {
                number.append(c)
                index = s.index(after: index)
                continue
            }
            var unit = String(c)
            let next = s.index(after: index)
            if c == "m", next < s.endIndex, s[next] == "s" {
                unit = "ms"
                index = s.index(after: next)
            } else {
                index = next
            }
            guard let value = Double(number) else { return nil }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            case "w": scale = 604_800
            default: return nil
            }
            total += value * scale
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }

    /// `--after`: a duration from now, or a point in time.
    static func after(_ text: String, now: Date) -> Date? {
        if let seconds = duration(text) { return now.addingTimeInterval(seconds) }
        return Timestamp.parse(text)
    }

    static let afterHelp = "a duration like 30s, 5m, 1h30m, 2d, or a time like 2026-11-27T10:00:00Z"

    /// A short human age: `850ms`, `12s`, `4m 05s`, `3h 12m`, `2d 4h`.
    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, seconds)
        if s < 1 { return "\(Int(s * 1000))ms" }
        if s < 60 { return String(format: "%.1fs", s) }
        let total = Int(s)
        if total < 3600 { return String(format: "%dm %02ds", total / 60, total % 60) }
        if total < 86400 { return String(format: "%dh %02dm", total / 3600, (total % 3600) / 60) }
        return "\(total / 86400)d \((total % 86400) / 3600)h"
    }
}
