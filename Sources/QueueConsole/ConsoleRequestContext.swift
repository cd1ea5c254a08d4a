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

    /// Who tries a token: the peer's IP address (behind a proxy, the proxy's).
    var client: String { remoteAddress?.ipAddress ?? "unknown" }
}
