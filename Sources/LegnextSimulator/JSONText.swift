import QueueSupport

/// JSON text built by appending bytes. The simulator answers thousands of requests a second on
/// the cores the daemon under test needs; Foundation's reflective JSONEncoder was a quarter of
/// its CPU. Strings and numbers are written by the same rules as the client's `JSONValue`.
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) { JSONOutput.appendString(text, to: &bytes) }

    mutating func int(_ value: Int) { bytes.append(contentsOf: String(value).utf8) }

    mutating func number(_ value: Double) { JSONOutput.appendNumber(value, to: &bytes) }

    /// `"key":` after a comma when it is not the first member.
    mutating func key(_ name: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func strings(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// A value as compact JSON with sorted keys, written by the client's own rules.
    mutating func value(_ value: JSONValue) { value.write(to: &bytes) }

    mutating func object(_ members: [String: JSONValue]) { value(.object(members)) }
}

/// What the simulator can answer with.
protocol JSONWritable {
    func write(to json: inout JSONText)
}

extension JSONValue: JSONWritable {
    func write(to json: inout JSONText) { json.value(self) }
}

extension Dictionary: JSONWritable where Key == String, Value == JSONValue {
    func write(to json: inout JSONText) { json.object(self) }
}
