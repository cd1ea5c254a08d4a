import Foundation

/// A request that breaks a documented rule of the endpoint; caught before anything is sent.
public struct RequestValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension RequestValidationError {
    static func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(RequestValidationError) {
        if !condition { throw RequestValidationError(message()) }
    }

    static func text(_ value: String?, _ name: String, required: Bool) throws(RequestValidationError) {
        guard let value else {
            if required { throw RequestValidationError("\(name) is required") }
            return
        }
        try check(!value.isBlank, "\(name) must not be empty")
        // UTF-8 length bounds the character count from above: count only when it might be over.
        if value.utf8.count > 8192 {
            let length = value.unicodeScalars.count
            try check(length <= 8192, "\(name) is \(length) characters long; at most 8192 are allowed")
        }
    }

    static func range<T: Comparable>(
        _ value: T?,
        _ name: String,
        _ range: ClosedRange<T>,
        required: Bool = true
    )
        throws(RequestValidationError)
    {
        guard let value else {
            if required { throw RequestValidationError("\(name) is required") }
            return
        }
        try check(range.contains(value), "\(name) must be \(range.lowerBound)–\(range.upperBound) (got \(value))")
    }

    static func jobId(_ value: String) throws(RequestValidationError) {
        try check(!value.isBlank, "jobId must not be empty")
    }

    static func url(_ value: String, _ name: String) throws(RequestValidationError) {
        let lower = value.lowercased()
        try check(
            (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && value.count > 8 && !value.contains(" "),
            "\(name) must be an http(s) URL (got \"\(value.prefix(80))\")"
        )
    }
}

typealias Rule = RequestValidationError

extension String {
    /// Empty or only whitespace; stops at the first other character (no Foundation bridging).
    public var isBlank: Bool { !unicodeScalars.contains { !$0.properties.isWhitespace } }
}
