import Foundation
import QueueSupport

#if canImport(Glibc)
import Glibc
#endif

/// Notices writes to the database by any process (a `sqlite3` shell inserting rows) without
/// polling: inotify on the database's folder, filtered to its WAL file. Each write signals
/// ``changes``; the engine then looks for work with one indexed query. Where inotify is not
/// available the engine's periodic check still finds new rows, only later.
final class ChangeWatcher: Sendable {
    /// Signalled after the WAL file changed.
    public let changes = Wakeup()
    private let inotifyFd: Int32
    private let stopPipe: (read: Int32, write: Int32)
    private let walName: String

    /// Starts watching the folder of `databasePath`; nil when inotify cannot be used.
    public init?(databasePath: String) {
        let url = URL(fileURLWithPath: databasePath)
        let folder = url.deletingLastPathComponent().path
        walName = url.lastPathComponent + "-wal"
        #if canImport(Glibc)
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_MODIFY) | UInt32(IN_CREATE) | UInt32(IN_MOVED_TO) | UInt32(IN_CLOSE_WRITE)
        guard inotify_add_watch(fd, folder.isEmpty ? "." : folder, mask) >= 0 else {
            close(fd)
            return nil
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(fd)
            return nil
        }
        inotifyFd = fd
        stopPipe = (fds[0], fds[1])
        #else
        return nil
        #endif
    }

    /// Reads events on a thread of its own until ``stop()``. Blocks in poll(2): no CPU when idle.
    public func start() {
        let thread = Thread { [self] in readLoop() }
        thread.name = "lnq-change-watcher"
        thread.start()
    }

    public func stop() {
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
    }

    private func readLoop() {
        #if canImport(Glibc)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [pollfd(fd: inotifyFd, events: Int16(POLLIN), revents: 0), pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0, errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { break }
            let count = buffer.withUnsafeMutableBytes { read(inotifyFd, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            if eventsMention(buffer, count: count) {
                changes.signal()
                // A busy daemon writes the WAL thousands of times a second; one wake-up per
                // 20 ms is plenty, and the events in between are read in one go.
                usleep(20_000)
            }
        }
        close(inotifyFd)
        close(stopPipe.read)
        close(stopPipe.write)
        #endif
    }

    private func eventsMention(_ buffer: [UInt8], count: Int) -> Bool {
        #if canImport(Glibc)
        let header = MemoryLayout<inotify_event>.size
        var offset = 0
        while offset + header <= count {
            let length = buffer.withUnsafeBytes { Int($0.load(fromByteOffset: offset + 12, as: UInt32.self)) }
            let nameStart = offset + header
            if length > 0, nameStart + length <= count {
                let nameBytes = buffer[nameStart..<(nameStart + length)].prefix { $0 != 0 }
                if String(decoding: nameBytes, as: UTF8.self) == walName { return true }
            }
            offset = nameStart + length
        }
        #endif
        return false
    }
}
