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

    mutating func value(_ value: AnyJSON, sortedKeys: Bool = false) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): flag ? raw("true") : raw("false")
        case .number(let number): self.number(number)
        case .string(let text): string(text)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item, sortedKeys: sortedKeys)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members): object(members, sortedKeys: sortedKeys)
        }
    }

    mutating func object(_ members: [String: AnyJSON], sortedKeys: Bool = false) {
        bytes.append(UInt8(ascii: "{"))
        let keys = sortedKeys ? members.keys.sorted() : Array(members.keys)
        for (index, name) in keys.enumerated() {
            key(name, first: index == 0)
            value(members[name]!, sortedKeys: sortedKeys)
        }
        bytes.append(UInt8(ascii: "}"))
    }
}

/// What the simulator can answer with.
protocol JSONWritable {
    func write(to json: inout JSONText)
}

extension AnyJSON: JSONWritable {
    func write(to json: inout JSONText) { json.value(self) }
}

extension Dictionary: JSONWritable where Key == String, Value == AnyJSON {
    func write(to json: inout JSONText) { json.object(self) }
}
