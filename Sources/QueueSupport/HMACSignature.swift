import Crypto
import Foundation

/// Hex HMAC-SHA256 over `timestamp + "." + body` (or the body alone without a timestamp): the
/// scheme of Legnext's SDK verifier (`X-Legnext-Signature`) and of our own notifications.
public enum HMACSignature {
    public static func hex(secret: Data, timestamp: String?, body: Data) -> String {
        var message = Data()
        if let timestamp {
            message.append(contentsOf: timestamp.utf8)
            message.append(UInt8(ascii: "."))
        }
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `given` is the signature, compared in time that does not depend on where they differ.
    public static func verify(_ given: String, secret: Data, timestamp: String?, body: Data) -> Bool {
        constantTimeEqual(given.lowercased(), hex(secret: secret, timestamp: timestamp, body: body))
    }

    public static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<b.count { difference |= (index < a.count ? a[index] : 0) ^ b[index] }
        return difference == 0
    }
}
