import Foundation
import LegnextSimulator
import QueueSupport
import Testing

/// The reader takes untrusted bytes from the network: whatever arrives, it returns a value or
/// throws, and never traps. Every input is drawn from a fixed seed, so a failure reproduces.
@Suite struct JSONValueFuzzTests {
    /// A Job object as Legnext's documentation shows it, the body the daemon reads most.
    static let jobBody = #"""
        {"job_id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","model":"midjourney","task_type":"diffusion","status":"completed",
        "config":{"service_mode":"public","webhook_config":{"endpoint":"","secret":""}},
        "input":{"text":"a red fox in the snow \u00e9 \ud83e\udd8a --ar 3:2","callback":null},
        "output":{"image_url":"https://cdn.example.com/grid.png","image_urls":["https://cdn.example.com/0.png",
        "https://cdn.example.com/1.png","https://cdn.example.com/2.png","https://cdn.example.com/3.png"],"seed":"123456789",
        "available_actions":{"upscale":[0,1,2,3],"variation":[0,1,2,3],"reroll":true}},
        "meta":{"created_at":"2026-12-02T10:00:00Z","started_at":"2026-12-02T10:00:01Z","ended_at":"2026-12-02T10:00:41Z",
        "usage":{"type":"point","frozen":80,"consume":80}},"detail":null,"logs":[],
        "error":{"code":0,"raw_message":"","message":"","detail":null},"numbers":[-0,0.5,-1.25e-3,1E+2,9007199254740993]}
        """#

    /// Reads `bytes`; whatever comes back must survive being written and read again unchanged.
    private func readSafely(_ bytes: [UInt8]) -> JSONValue? {
        guard let value = try? JSONValue(data: Data(bytes)) else { return nil }
        let text = value.jsonText
        let again = try? JSONValue(data: Data(text.utf8))
        #expect(again?.jsonText == text, "written text of \(bytes) does not read back the same")
        return value
    }

    @Test func everyTruncationOfARealBodyThrowsInsteadOfTrapping() throws {
        let body = Array(Self.jobBody.utf8)
        #expect(readSafely(body) != nil)
        for end in 0..<body.count {
            let prefix = Array(body[..<end])
            // Only a prefix that ends after a whole value could read; a Job object is not one.
            #expect(readSafely(prefix) == nil, "a prefix of \(end) bytes read as JSON")
        }
    }

    @Test func everyOneByteMutationOfARealBodyIsReadOrRefused() {
        var random = SimulatorRandom(seed: 17)
        let body = Array(Self.jobBody.utf8)
        let replacements: [UInt8] = Array("{}[]\",:\\0123456789eE+-.tfnul ".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        for position in body.indices {
            var mutated = body
            mutated[position] = replacements[Int(random.next() % UInt64(replacements.count))]
            _ = readSafely(mutated)
            mutated.remove(at: position)
            _ = readSafely(mutated)
        }
    }

    @Test func randomInputAgreesWithFoundationOnWhatIsJSON() {
        var random = SimulatorRandom(seed: 4242)
        let alphabet: [UInt8] = Array("{}[]\",:\\0123456789eE+-.truefalsenull u \t\n".utf8)
        var agreed = 0
        for _ in 0..<20_000 {
            let count = Int(random.next() % 24)
            let bytes = (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let ours = readSafely(bytes) != nil
            let theirs = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            #expect(ours == theirs, "\(String(decoding: bytes, as: UTF8.self)): ours \(ours), Foundation \(theirs)")
            if ours { agreed += 1 }
        }
        // The alphabet makes valid JSON often enough that both sides of the comparison are exercised.
        #expect(agreed > 200)
    }

    @Test func randomBytesNeverTrap() {
        var random = SimulatorRandom(seed: 99)
        for _ in 0..<20_000 {
            let count = Int(random.next() % 48)
            _ = readSafely((0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        }
    }

    @Test func deepNestingIsRefusedPastTheLimitAndReadBelowIt() throws {
        let within = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(try JSONValue(data: Data(within.utf8)).arrayValue != nil)
        for opener in ["[", "{\"a\":", "[{\"b\":"] {
            let text = String(repeating: opener, count: 200_000)
            #expect(throws: (any Error).self) { try JSONValue(data: Data(text.utf8)) }
        }
    }

    @Test func hugeNumbersAreDoublesOrRefusedNeverInfinite() throws {
        #expect(try JSONValue(data: Data("123456789012345678901234567890".utf8)) == .double(1.2345678901234568e29))
        #expect(try JSONValue(data: Data("-9223372036854775808".utf8)) == .int(Int.min))
        #expect(try JSONValue(data: Data("9223372036854775808".utf8)) == .double(9.223372036854775808e18))
        for text in ["1e400", "-1e400", "1" + String(repeating: "0", count: 400)] {
            #expect(throws: (any Error).self, "\(text.prefix(12)) read as a number") { try JSONValue(data: Data(text.utf8)) }
        }
        #expect(try JSONValue(data: Data("1e-400".utf8)) == .double(0))
        let long = "0." + String(repeating: "1", count: 100_000)
        #expect(try JSONValue(data: Data(long.utf8)).doubleValue != nil)
    }

    @Test func invalidUTF8InAStringIsReplacedNotTrusted() throws {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0xC3, 0x22]  // "a<FF><C3 without its continuation>"
        let value = try JSONValue(data: Data(bytes))
        #expect(value == .string("a\u{FFFD}\u{FFFD}"))
        for escape in [#""\udc00""#, #""\ud800\u0041""#, #""\ud800""#, #""\u12""#, #""\uZZZZ""#] {
            #expect(throws: (any Error).self, "\(escape)") { try JSONValue(data: Data(escape.utf8)) }
        }
    }
}
