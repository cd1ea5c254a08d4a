#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// "One daemon per database": an exclusive `flock` on `<database>-lock`, held for the daemon's
/// life and dropped by the kernel when the process dies, even by kill -9. The daemon row is a
/// second claim inside the file itself (``QueueStore/claimDaemon(pid:hostname:now:isDaemon:)``).
///
/// A file of its own, not the database: closing any descriptor of the database file would drop
/// every POSIX lock SQLite holds on it in this process.
public final class DaemonLock: Sendable {
    private let fd: Int32
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Takes the lock, or throws ``StoreError/daemonRunning(path:pid:)`` at once if another process holds it.
    public static func acquire(path: String, holderPid: () -> Int32? = { nil }) throws(StoreError) -> DaemonLock {
        let fd = open(lockPath(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        guard fd >= 0 else {
            throw .database(path: path, detail: "cannot open for locking: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw .daemonRunning(path: path, pid: holderPid()) }
            throw .database(path: path, detail: "cannot lock: \(String(cString: strerror(code)))")
        }
        return DaemonLock(fd: fd, path: path)
    }

    /// Whether some process holds the daemon lock on `path` now.
    public static func isHeld(path: String) -> Bool {
        let fd = open(lockPath(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// The lock file of the database at `path`, beside the file a symlink points to (as SQLite
    /// puts its -wal there): every name of the queue meets the same lock.
    public static func lockPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path + "-lock" }
        defer { free(resolved) }
        return String(cString: resolved) + "-lock"
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
