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

    /// A Legnext job id a person wrote (`params.jobId`): Legnext's ids are UUIDs, so anything
    /// else is a typo that would cost a request and a refusal. Ids Legnext itself gave are taken as they are.
    static func legnextJobId(_ value: String) throws(RequestValidationError) {
        try check(
            UUID(uuidString: value) != nil,
            "params.jobId must be a Legnext job id, a UUID such as 3f2b9c1e-8d4a-4e6f-9b7c-2a1d0e5f6c7b (got \"\(value.prefix(80))\")"
        )
    }

    /// `maxLength`: where the OpenAPI file bounds the URL (upload-paint, retexture, remove-background: 1024).
    static func url(_ value: String, _ name: String, maxLength: Int? = nil) throws(RequestValidationError) {
        let lower = value.lowercased()
        try check(
            (lower.hasPrefix("https://") || lower.hasPrefix("http://")) && value.count > 8 && !value.contains(" "),
            "\(name) must be an http(s) URL (got \"\(value.prefix(80))\")"
        )
        if let maxLength {
            try check(value.utf8.count <= maxLength, "\(name) is \(value.utf8.count) characters long; Legnext takes at most \(maxLength)")
        }
    }
}

typealias Rule = RequestValidationError

extension String {
    /// Empty or only whitespace; stops at the first other character (no Foundation bridging).
    public var isBlank: Bool { !unicodeScalars.contains { !$0.properties.isWhitespace } }
}
