import Foundation
import QueueStore
import QueueSupport

/// Runs `--on-finish COMMAND` for each job end. The command is the operator's own text, run
/// by `/bin/sh -c`; the job's data reaches it only through environment variables, never
/// spliced into a command line: `LNQ_JOB_ID`, `LNQ_JOB_STATE`, `LNQ_JOB_TAG`, `LNQ_JOB_KIND`,
/// `LNQ_REMOTE_JOB_ID`, `LNQ_ERROR`, `LNQ_DELIVERY_ID`, `LNQ_OUTPUT_PATHS` and
/// `LNQ_OUTPUT_URLS` (one per line), `LNQ_DB`.
public struct FinishCommand: Sendable {
    let command: String
    let timeout: TimeInterval
    let databasePath: String

    public init(command: String, timeout: TimeInterval, databasePath: String) {
        self.command = command
        self.timeout = timeout
        self.databasePath = databasePath
    }

    public func deliver(_ notification: JobNotification, _ detail: JobDetail) async -> NotificationOutbox.Attempt {
        var environment = ProcessInfo.processInfo.environment
        // The key stays with the daemon: neither its value nor where systemd put it.
        environment["LEGNEXT_API_KEY"] = nil
        environment["CREDENTIALS_DIRECTORY"] = nil
        environment["LNQ_JOB_ID"] = String(detail.job.id)
        environment["LNQ_JOB_STATE"] = notification.jobState
        environment["LNQ_JOB_TAG"] = detail.job.tag ?? ""
        environment["LNQ_JOB_KIND"] = detail.job.kind
        environment["LNQ_REMOTE_JOB_ID"] = detail.job.remoteJobId ?? ""
        environment["LNQ_ERROR"] = detail.job.error ?? ""
        environment["LNQ_DELIVERY_ID"] = notification.deliveryId
        environment["LNQ_OUTPUT_PATHS"] = detail.outputs.compactMap { $0.download?.path }.joined(separator: "\n")
        environment["LNQ_OUTPUT_URLS"] = detail.outputs.compactMap(\.url).joined(separator: "\n")
        environment["LNQ_DB"] = databasePath
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        let ended = ProcessEnd()
        process.terminationHandler = { _ in ended.signal() }
        do {
            try process.run()
        } catch {
            return .failed("cannot start /bin/sh: \(error)", permanent: true)
        }
        if !(await ended.wait(seconds: timeout)) {
            process.terminate()
            if !(await ended.wait(seconds: 5)) { kill(process.processIdentifier, SIGKILL) }
            _ = await ended.wait(seconds: 5)
            return .failed("--on-finish timed out after \(Int(timeout))s", permanent: false)
        }
        let status = process.terminationStatus
        return status == 0 ? .delivered : .failed("--on-finish exited with status \(status)", permanent: false)
    }
}

/// The end of a child process, awaited with a time limit.
final class ProcessEnd: Sendable {
    private let wakeup = Wakeup()

    func signal() { wakeup.signal() }

    /// True if the process ended within `seconds`.
    func wait(seconds: TimeInterval) async -> Bool {
        await wakeup.wait(timeout: .milliseconds(Int64(seconds * 1000)))
    }
}
