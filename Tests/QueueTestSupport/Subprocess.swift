import Foundation

/// A program run by a test: the real binaries and the `sqlite3` shell, across a process boundary.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Subprocess {
    /// Runs `executable` with `arguments` to completion (stdin from `input`).
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String]? = nil,
        timeout: TimeInterval = 120
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        // Read both pipes while the process runs, so a full pipe cannot block it.
        let outData = Reader(out.fileHandleForReading)
        let errData = Reader(err.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                break
            }
            usleep(5000)
        }
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: outData.finish(), stderr: errData.finish())
    }

    /// Where SwiftPM put the package's executables (next to the test bundle).
    public static func binary(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    /// The `sqlite3` shell, or nil where it is not installed.
    public static var sqlite3: String? {
        ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3", "/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Collects a pipe's bytes on a background thread.
final class Reader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock()
                data.append(chunk)
                lock.unlock()
            }
            done.signal()
        }
    }

    /// What has arrived so far.
    var snapshot: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    func finish() -> String {
        done.wait()
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A long-running child process (the daemon, a simulator, a `sqlite3` shell holding a lock).
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let outReader: Reader
    private let errReader: Reader
    private let input = Pipe()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        outReader = Reader(out.fileHandleForReading)
        errReader = Reader(err.fileHandleForReading)
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    /// Standard output and error so far.
    public var output: String { outReader.snapshot }
    public var errors: String { errReader.snapshot }
    public var isRunning: Bool { process.isRunning }

    public func write(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }
    public func closeInput() { try? input.fileHandleForWriting.close() }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit; kills it after `timeout`. Returns the exit status and output.
    @discardableResult
    public func wait(timeout: TimeInterval = 60) -> CommandResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        closeInput()
        return CommandResult(status: process.terminationStatus, stdout: outReader.finish(), stderr: errReader.finish())
    }
}

/// Waits until `condition` holds, checking every 50 ms; false if it did not within `timeout`.
/// For waiting on another process; never a substitute for driving a clock.
public func eventually(timeout: TimeInterval = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50000)
    }
    return try condition()
}

/// The same, for async tests: it suspends instead of blocking a thread the code under test needs.
public func eventuallyAsync(timeout: TimeInterval = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
