import Foundation
import NIOCore
import NIOFoundationCompat
import QueueSupport

extension LegnextRequest {
    /// The wire body and its content type: JSON, for every endpoint.
    func encodedBody() throws -> (ByteBuffer, String) {
        if let diffusion = body as? DiffusionRequest {
            // Nearly every request: written directly, without JSONEncoder's reflection.
            var bytes: [UInt8] = []
            bytes.reserveCapacity(diffusion.text.utf8.count + (diffusion.callback?.utf8.count ?? 0) + 32)
            bytes.append(contentsOf: #"{"text":"#.utf8)
            JSONOutput.appendString(diffusion.text, to: &bytes)
            if let callback = diffusion.callback {
                bytes.append(contentsOf: #","callback":"#.utf8)
                JSONOutput.appendString(callback, to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
            return (ByteBuffer(bytes: bytes), "application/json")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (ByteBuffer(bytes: try encoder.encode(body)), "application/json")
    }

    /// The body as the JSON object Legnext receives (nil if it cannot be encoded).
    public var jsonBody: [String: JSONValue]? {
        guard let (buffer, _) = try? encodedBody() else { return nil }
        return (try? JSONValue(data: Data(buffer: buffer)))?.objectValue
    }
}
