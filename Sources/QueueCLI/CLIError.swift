import ArgumentParser
import Foundation
import QueueStore

/// A failure the CLI reports as one line on stderr and a sysexits status.
public struct CLIError: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }

    /// sysexits(3) statuses.
    public static let usage: Int32 = 64
    public static let dataError: Int32 = 65
    public static let noInput: Int32 = 66
    public static let software: Int32 = 70
    public static let cannotCreate: Int32 = 73
    public static let ioError: Int32 = 74
    public static let tempFail: Int32 = 75
    public static let config: Int32 = 78

    public static func usage(_ message: String) -> CLIError { CLIError(message, exitCode: usage) }
    public static func bad(_ message: String) -> CLIError { CLIError(message, exitCode: dataError) }
}

extension StoreError {
    var exitCode: Int32 {
        switch self {
        case .noDatabase, .noSuchJob: CLIError.noInput
        case .busy, .daemonRunning: CLIError.tempFail
        case .invalid, .rejected: CLIError.dataError
        case .newerSchema, .outdatedSchema, .notAQueue, .multipleLinks: CLIError.config
        case .database: CLIError.ioError
        case .diskFull: CLIError.cannotCreate
        case .brokenMigration: CLIError.software
        }
    }
}

/// Writes to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

/// Runs a command body, turning the program's own errors into one stderr line and an exit status.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        printError("legnext-queue: \(error.message)")
        throw ExitCode(error.exitCode)
    } catch let error as StoreError {
        printError("legnext-queue: \(error)")
        throw ExitCode(error.exitCode)
    }
}
