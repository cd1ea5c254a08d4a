import Foundation
import NIOCore
import NIOFoundationCompat
import QueueSupport

extension LegnextRequest {
    /// The wire body and its content type: JSON, or a multipart form for inpaint.
    func encodedBody() throws -> (ByteBuffer, String) {
        if let inpaint = body as? InpaintRequest {
            return Self.multipart(inpaint)
        }
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

    private static func multipart(_ request: InpaintRequest) -> (ByteBuffer, String) {
        let boundary = "lnq-\(UUID().uuidString)"
        var buffer = ByteBuffer()
        func field(_ name: String, _ value: String) {
            buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        field("jobId", request.jobId)
        field("imageNo", String(request.imageNo))
        if let remix = request.remixPrompt { field("remixPrompt", remix) }
        if let callback = request.callback { field("callback", callback) }
        buffer.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"mask\"; filename=\"mask.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        buffer.writeBytes(request.mask)
        buffer.writeString("\r\n--\(boundary)--\r\n")
        return (buffer, "multipart/form-data; boundary=\(boundary)")
    }
}
