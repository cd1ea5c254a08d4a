import Foundation
import GRDB
import QueueSupport

/// A row whose column holds a value of the wrong kind (a BLOB where text belongs, text in an
/// integer column, …): written by hand, or before the schema's rules existed. The daemon fails
/// such a job with this message instead of trapping on it.
public struct RowReadError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "row could not be read: \(message)" }
}

/// Reads columns by their SQLite storage class, never converting one kind into another: GRDB's
/// non-throwing subscripts trap on a BLOB where a String is asked for, and its fast integer path
/// reads the text "many" as 0.
struct RowReader {
    let row: Row

    private func value(_ index: Int?) -> DatabaseValue {
        guard let index else { return .null }
        return row[index]
    }

    func text(_ index: Int?, _ name: String) throws(RowReadError) -> String? {
        switch value(index).storage {
        case .null: return nil
        case .string(let text): return text
        case let other: throw RowReadError("\(name) is \(Self.describe(other)), not text")
        }
    }

    func requiredText(_ index: Int?, _ name: String) throws(RowReadError) -> String {
        guard let text = try text(index, name) else { throw RowReadError("\(name) is NULL") }
        return text
    }

    func int(_ index: Int?, _ name: String) throws(RowReadError) -> Int64? {
        switch value(index).storage {
        case .null: return nil
        case .int64(let number): return number
        case let other: throw RowReadError("\(name) is \(Self.describe(other)), not an integer")
        }
    }

    func requiredInt(_ index: Int?, _ name: String) throws(RowReadError) -> Int64 {
        guard let number = try int(index, name) else { throw RowReadError("\(name) is NULL") }
        return number
    }

    func double(_ index: Int?, _ name: String) throws(RowReadError) -> Double? {
        switch value(index).storage {
        case .null: return nil
        case .int64(let number): return Double(number)
        case .double(let number): return number
        case let other: throw RowReadError("\(name) is \(Self.describe(other)), not a number")
        }
    }

    /// A time column: text in the queue's ISO-8601 form. Unreadable text is nil (times are for
    /// people and scheduling hints; a later write replaces them).
    func date(_ index: Int?, _ name: String) throws(RowReadError) -> Date? {
        try text(index, name).flatMap(Timestamp.parse)
    }

    static func describe(_ storage: DatabaseValue.Storage) -> String {
        switch storage {
        case .null: "NULL"
        case .int64(let number): "the integer \(number)"
        case .double(let number): "the real number \(number)"
        case .string(let text): "the text \"\(text.prefix(40))\""
        case .blob(let data):
            "a BLOB of \(data.count) bytes (x'\(data.prefix(16).map { String(format: "%02x", $0) }.joined())\(data.count > 16 ? "…" : "")')"
        }
    }
}

extension RowReader {
    init(_ row: Row) { self.row = row }

    /// The position of `column` in the row (nil when it was not selected).
    func index(_ column: String) -> Int? {
        Array(row.columnNames).firstIndex { $0.caseInsensitiveCompare(column) == .orderedSame }
    }

    /// By column name, for the few statements read once (not per job on a hot path).
    func text(_ column: String) throws(RowReadError) -> String? { try text(index(column), column) }
    func requiredText(_ column: String) throws(RowReadError) -> String { try requiredText(index(column), column) }
    func int(_ column: String) throws(RowReadError) -> Int64? { try int(index(column), column) }
    func requiredInt(_ column: String) throws(RowReadError) -> Int64 { try requiredInt(index(column), column) }
    func date(_ column: String) throws(RowReadError) -> Date? { try date(index(column), column) }
    func double(_ column: String) throws(RowReadError) -> Double? { try double(index(column), column) }
}

extension DatabaseError {
    /// The rule a refused write broke, as the schema names it ("prompt must be text …").
    var brokenRule: String {
        (message ?? "a rule of the schema").replacingOccurrences(of: "CHECK constraint failed: ", with: "")
    }
}
