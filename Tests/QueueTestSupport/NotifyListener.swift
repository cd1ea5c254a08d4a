import Foundation
import Synchronization

/// The systemd side of `sd_notify`: a datagram socket that records every message and when it
/// arrived, as systemd would see them.
public final class NotifyListener: Sendable {
    public struct Message: Sendable {
        public var text: String
        public var at: Date
    }

    public let path: String
    private let descriptor: Int32
    private let received = Mutex<[Message]>([])
    private let stopping = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)

    public init(path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            // An abstract name ("\0…") is exactly its bytes; a path ends at its NUL.
            let length = MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1)
            return $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        // Wake the reader now and then so it notices `stop()`.
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.path = path
        self.descriptor = fd
        Thread.detachNewThread { [self] in
            readLoop()
            finished.signal()
        }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopping.withLock({ $0 }) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            received.withLock { $0.append(Message(text: text, at: Date())) }
        }
    }

    public var messages: [Message] { received.withLock { $0 } }

    /// The path to hand over as `NOTIFY_SOCKET` (`@name` for an abstract socket).
    public var notifySocket: String { path.hasPrefix("\0") ? "@" + path.dropFirst() : path }

    /// The messages holding `assignment` (e.g. `WATCHDOG=1`) as one of their lines.
    public func messages(with assignment: String) -> [Message] {
        messages.filter { $0.text.split(separator: "\n").contains { $0 == assignment } }
    }

    /// Every `STATUS=` value sent so far.
    public var statuses: [String] {
        messages.flatMap { $0.text.split(separator: "\n") }.filter { $0.hasPrefix("STATUS=") }.map { String($0.dropFirst(7)) }
    }

    public func stop() {
        stopping.withLock { $0 = true }
        finished.wait()
        close(descriptor)
        if !path.hasPrefix("\0") { unlink(path) }
    }
}
