#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells systemd how the service is doing: `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`,
/// one datagram each to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
///
/// The protocol is small and stable, so this speaks it directly instead of linking libsystemd.
public final class SystemdNotifier: Sendable {
    /// The socket address bytes (`sun_path`), with a leading NUL for an abstract socket.
    private let path: [UInt8]
    private let descriptor: Int32
    /// Half of `WATCHDOG_USEC` (systemd's own advice), when systemd expects pings from us.
    public let watchdogInterval: Double?

    /// A notifier for this process, or nil when systemd is not listening (`NOTIFY_SOCKET` unset).
    public convenience init?(environment: [String: String]) {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        var interval: Double?
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            // WATCHDOG_PID names the process meant; a child that inherited the variable is not it.
            let pid = environment["WATCHDOG_PID"].flatMap(Int32.init)
            if pid == nil || pid == getpid() { interval = Double(usec) / 2_000_000 }
        }
        self.init(socket: socket, watchdogInterval: interval)
    }

    /// - Parameter socket: a filesystem path, or `@name` for an abstract socket.
    public init?(socket: String, watchdogInterval: Double?) {
        var bytes = Array(socket.utf8)
        if bytes.first == UInt8(ascii: "@") {
            bytes[0] = 0
        } else if bytes.first != UInt8(ascii: "/") {
            return nil
        }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard bytes.count < capacity else { return nil }
        #if canImport(Glibc) || canImport(Musl)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = Darwin.socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        self.path = bytes
        self.descriptor = fd
        self.watchdogInterval = watchdogInterval
    }

    deinit { close(descriptor) }

    /// Sends one notification; newline-separated assignments. Best effort: systemd not
    /// listening is no reason to stop the daemon.
    @discardableResult
    public func send(_ message: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        // An abstract name is exactly its bytes; a path is NUL-terminated inside sun_path.
        let length = MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1)
        let bytes = Array(message.utf8)
        #if os(Linux)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let flags: Int32 = 0
        #endif
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { buffer in
                    sendto(descriptor, buffer.baseAddress, buffer.count, flags, socketAddress, socklen_t(length))
                }
            }
        }
        return sent == bytes.count
    }

    public func ready(status: String? = nil) {
        send(status.map { "READY=1\nSTATUS=\(Self.oneLine($0))" } ?? "READY=1")
    }

    public func status(_ text: String) { send("STATUS=\(Self.oneLine(text))") }

    public func watchdog() { send("WATCHDOG=1") }

    public func stopping(status: String? = nil) {
        send(status.map { "STOPPING=1\nSTATUS=\(Self.oneLine($0))" } ?? "STOPPING=1")
    }

    /// A status is one line: a newline would start a new assignment.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
