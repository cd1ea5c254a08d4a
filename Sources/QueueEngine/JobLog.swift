import Logging

/// The engine's logger for one job: its lines carry `lnq.job.id` (and `lnq.remote.id` once
/// known), built only for lines that pass the log level. Copying the logger and setting its
/// metadata for every job at every step showed in the throughput profile.
struct JobLog: Sendable {
    let logger: Logger
    let id: Int64
    var remoteId: String?

    init(_ logger: Logger, id: Int64, remoteId: String? = nil) {
        self.logger = logger
        self.id = id
        self.remoteId = remoteId
    }

    private var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["lnq.job.id": "\(id)"]
        if let remoteId { metadata["lnq.remote.id"] = "\(remoteId)" }
        return metadata
    }

    func info(_ message: @autoclosure () -> Logger.Message, file: String = #fileID, function: String = #function, line: UInt = #line) {
        logger.info(message(), metadata: metadata, file: file, function: function, line: line)
    }

    func notice(_ message: @autoclosure () -> Logger.Message, file: String = #fileID, function: String = #function, line: UInt = #line) {
        logger.notice(message(), metadata: metadata, file: file, function: function, line: line)
    }

    func warning(_ message: @autoclosure () -> Logger.Message, file: String = #fileID, function: String = #function, line: UInt = #line) {
        logger.warning(message(), metadata: metadata, file: file, function: function, line: line)
    }

    func error(_ message: @autoclosure () -> Logger.Message, file: String = #fileID, function: String = #function, line: UInt = #line) {
        logger.error(message(), metadata: metadata, file: file, function: function, line: line)
    }
}
