import Foundation
import Hummingbird
import NIOCore

/// A console request's context, with the address it came from: sign-in tries are counted per
/// address, so a guesser closes the door on itself, not on everyone.
struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Who tries a token: the peer's IPv4 address, or the /64 of its IPv6 one (a host is
    /// given a whole /64); behind a proxy, the proxy's.
    var client: String { Self.client(remoteAddress?.ipAddress) }

    static func client(_ address: String?) -> String {
        guard let address else { return "unknown" }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        // An IPv4 client of a dual-stack listener (::ffff:a.b.c.d) is that IPv4 address.
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return bytes[12..<16].map(String.init).joined(separator: ".")
        }
        return bytes[0..<8].map { String(format: "%02x", $0) }.joined() + "::/64"
    }
}
