import Foundation
import NIOCore
import NIOFoundationCompat
import QueueSupport

extension LegnextRequest {
    /// How a Legnext job's `input` differs from this request, or nil when it is this request:
    /// the evidence before a job whose submission answer was lost adopts a Legnext job as its
    /// own. Every field sent must come back equal (numbers by value); the input may add nothing
    /// but `callback` and `null`s. An input that is missing or not an object is a difference.
    public func inputMismatch(_ input: JSONValue?) -> String? {
        guard let theirs = input?.objectValue else { return "Legnext's job shows no input to compare" }
        guard let ours = jsonBody else {
            return "the request cannot be encoded"
        }
        for (name, value) in ours where name != "callback" {
            guard let other = theirs[name], Self.same(value, other) else {
                return "\(name) differs (ours \(value.jsonText.prefix(80)), Legnext's \((theirs[name]?.jsonText ?? "absent").prefix(80)))"
            }
        }
        if let extra = theirs.keys.sorted().first(where: { ours[$0] == nil && $0 != "callback" && theirs[$0] != .null }) {
            return "Legnext's input has \(extra), ours does not"
        }
        return nil
    }

    private static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)): return x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default:
            if let x = a.doubleValue, let y = b.doubleValue { return x == y }
            return a == b
        }
    }
}
