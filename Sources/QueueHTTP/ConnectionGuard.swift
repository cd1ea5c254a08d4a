import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Keeps strangers from holding the receiver's descriptors: each connection must deliver a whole
/// request (head and body) within `deadline` of opening, or of the previous answer (which also
/// ends idle keep-alive connections), and at most `limit` connections are open at once — the
/// ones over it are closed as soon as they are accepted.
///
/// A callback is one small POST; a client slower than that is not Legnext.
public final class ConnectionGuard: Sendable {
    let limit: Int
    let deadline: TimeAmount
    private let open = Atomic<Int>(0)

    init(limit: Int, deadline: TimeAmount) {
        self.limit = limit
        self.deadline = deadline
    }

    /// At most a quarter of the process's descriptors (`ulimit -n`), and no more than 256.
    static func defaultLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 64 }
        return max(8, min(256, Int(min(limit.rlim_cur, 1 << 20)) / 4))
    }

    /// A handler for one connection's pipeline, after the HTTP codec.
    func handler() -> Handler { Handler(guard: self) }

    fileprivate func admit() -> Bool {
        open.wrappingAdd(1, ordering: .relaxed).newValue <= limit
    }

    fileprivate func leave() { open.wrappingSubtract(1, ordering: .relaxed) }

    final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let guardian: ConnectionGuard
        private var timer: Scheduled<Void>?
        private var counted = false

        fileprivate init(guard guardian: ConnectionGuard) { self.guardian = guardian }

        func handlerAdded(context: ChannelHandlerContext) {
            counted = true
            guard guardian.admit() else {
                context.close(promise: nil)
                return
            }
            arm(context)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            timer?.cancel()
            timer = nil
            if counted {
                counted = false
                guardian.leave()
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = unwrapInboundIn(data) {
                timer?.cancel()
                timer = nil
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data) { arm(context) }
            context.write(data, promise: promise)
        }

        func channelInactive(context: ChannelHandlerContext) {
            timer?.cancel()
            timer = nil
            context.fireChannelInactive()
        }

        private func arm(_ context: ChannelHandlerContext) {
            timer?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: guardian.deadline) { loopBound.value.close(promise: nil) }
        }
    }
}
