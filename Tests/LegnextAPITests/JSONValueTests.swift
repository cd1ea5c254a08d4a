import Foundation
import LegnextAPI
import QueueSupport
import Testing

@Suite struct JSONValueTests {
    @Test func parsesEveryShape() throws {
        let text = #" { "a": [1, -2, 3.5, 1e3, -0.25E-2, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83e\udd8a", "o": {}, "e": [] } "#
        let value = try JSONValue(data: Data(text.utf8))
        #expect(value["a"] == [1, -2, 3.5, 1000.0, -0.0025, true, false, .null])
        #expect(value["s"] == .string("q\"\\/\u{8}\u{c}\n\r\té🦊"))
        #expect(value["o"] == .object([:]))
        #expect(value["e"] == .array([]))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"unterminated", "\"\\x\"", "tru", "[1] 2", "\"\\ud83e\""])
    func rejectsWhatIsNotJSON(text: String) {
        #expect(throws: (any Error).self) { try JSONValue(data: Data(text.utf8)) }
        #expect(JSONValue(parsing: text) == nil)
    }

    @Test func writesCompactSortedEscapedText() throws {
        let value: JSONValue = ["b": [1, 2.5, "x\"y\n"], "a": .null, "c": ["z": true]]
        #expect(value.jsonText == #"{"a":null,"b":[1,2.5,"x\"y\n"],"c":{"z":true}}"#)
        #expect(try JSONValue(data: Data(value.jsonText.utf8)) == value)
        #expect(JSONValue.string("\u{1}").jsonText == #""\u0001""#)
    }

    @Test func rejectsNestingDeepEnoughToExhaustTheStack() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: (any Error).self) { try JSONValue(data: Data(text.utf8)) }
    }
}
