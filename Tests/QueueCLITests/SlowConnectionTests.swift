import Foundation
import QueueStore
import QueueTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Strangers at the callback port: connections that send half a request and wait.
@Suite(.serialized) struct SlowConnectionTests {
    /// Opens a TCP connection to 127.0.0.1:`port` and sends `bytes`; nil if it could not connect.
    static func connect(_ port: Int, sending bytes: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        _ = bytes.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return fd
    }

    /// Whether the other end closed `fd` (a read gives end of file or a reset), without waiting.
    static func closedByPeer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// 1,500 connections that send half a request and wait, against a daemon allowed 400
    /// descriptors: the receiver closes them (a whole request within 10 s, at most a quarter of
    /// the descriptors for itself) and the drain goes on: every job completes, none uncertain.
    @Test(.enabled(if: Subprocess.sqlite3 != nil, "skipped: needs the sqlite3 shell"))
    func fifteenHundredSlowConnectionsDoNotStopTheDrain() async throws {
        let cli = try CLIFixture()
        defer { cli.dir.remove() }
        let sim = try SimulatorProcess(["--duration-median", "1", "--duration-spread", "0.3"])
        defer { sim.stop() }
        #expect(try cli.run(["enqueue", "--file", "-"], input: (0..<24).map { "heron \($0)" }.joined(separator: "\n")).status == 0)
        let arguments = [
            "--db", cli.db, "run", "--base-url", sim.baseURL, "--rate", "0", "--concurrency", "8", "--callback-listen", "127.0.0.1:0",
            // Callbacks are lost while the strangers fill the receiver: the safety net finishes.
            "--callback-safety-poll", "3s", "--log-level", "info",
        ]
        let daemon = try RunningProcess(
            "/bin/sh",
            ["-c", "ulimit -n 400 && exec \"$0\" \"$@\"", CLIFixture.binary] + arguments,
            environment: DaemonProcessTests.environment()
        )
        defer {
            daemon.signal(SIGTERM)
            daemon.wait()
        }
        var port: Int?
        _ = eventually(timeout: 30) {
            port = daemon.errors.split(separator: "\n").first { $0.contains("receiving Legnext callbacks on") }?
                .split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }
            return port != nil
        }
        let callbackPort = try #require(port, "\(daemon.errors)")
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        // Bounded so a receiver that stops accepting fails the count below instead of hanging.
        let giveUp = Date().addingTimeInterval(60)
        for index in 0..<1500 where Date() < giveUp {
            let half = "POST /legnext/\(index % 24 + 1)/not-a-token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
            if let fd = Self.connect(callbackPort, sending: half) { sockets.append(fd) }
        }
        #expect(sockets.count > 1000, "the kernel took most of them: \(sockets.count)")
        // Read in this process while the sockets are open: Foundation's Process.run crashed
        // (a bad read in its descriptor handling) when spawning with 1,500 descriptors open.
        let store = try QueueStore.open(path: cli.db)
        #expect(eventually(timeout: 180) { (try? store.status())?.counts[.completed] == 24 }, "\(daemon.errors.suffix(3000))")
        #expect(try store.status().total == 24)
        #expect(eventually(timeout: 60) { sockets.allSatisfy(Self.closedByPeer) }, "every half request is closed by the daemon")
        #expect(daemon.isRunning)
        #expect(!daemon.errors.contains("Too many open files"), "\(daemon.errors.suffix(3000))")
    }
}
