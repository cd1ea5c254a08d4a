import Foundation

/// The Legnext API key. Prints as `<redacted>` everywhere, so it cannot leak into a log line
/// or an error message by accident.
public struct APIKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String

    /// Trims surrounding whitespace (a key file usually ends with a newline).
    public init?(_ value: String) {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, !trimmed.contains(where: { $0.isNewline }) else { return nil }
        self.value = trimmed
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Whether `text` contains the key (for tests that check nothing leaks).
    public func appears(in text: String) -> Bool { text.contains(value) }
}
