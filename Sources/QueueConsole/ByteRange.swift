import Foundation

/// The part of a file a `Range` header asks for (RFC 9110 §14): one range, `a-b`, `a-` or the
/// last `-n` bytes. Browsers ask for parts of a video to start it and to seek. Hummingbird's
/// own parser is private to its FileMiddleware and reads `-n` as the first n+1 bytes.
enum ByteRange: Equatable {
    /// The whole file: no header, one this does not read (which the RFC says to ignore), or
    /// several ranges (a multipart answer is optional; the whole file is a correct one).
    case whole
    case part(Range<Int64>)
    /// Starts past the end: 416, with the size.
    case unsatisfiable

    static func parse(_ header: String?, size: Int64) -> ByteRange {
        guard let header, header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        guard first.allSatisfy(\.isASCIIDigitCharacter), last.allSatisfy(\.isASCIIDigitCharacter), !(first.isEmpty && last.isEmpty) else {
            return .whole
        }
        guard size > 0 else { return .unsatisfiable }
        if first.isEmpty {
            // The last n bytes.
            guard let count = Int64(last) else { return .part(0..<size) }
            guard count > 0 else { return .unsatisfiable }
            return .part(max(0, size - count)..<size)
        }
        guard let start = Int64(first) else { return .unsatisfiable }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .part(start..<size) }
        // A digit run too long for Int64 ends past any file; no `+ 1` may overflow.
        let end = Int64(last) ?? Int64.max
        guard end >= start else { return .whole }
        return .part(start..<(end >= size - 1 ? size : end + 1))
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
