import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

/// The JSON a notification carries: the job's end, its outputs (with the local files when
/// they were downloaded) and its error.
enum NotificationPayload {
    static func json(_ notification: JobNotification, _ detail: JobDetail) -> JSONValue {
        let job = detail.job
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let outputs: [JSONValue] = detail.outputs.map { output in
            var members: [String: JSONValue] = [
                "kind": .string(output.kind.rawValue), "index": .int(output.index), "url": text(output.url), "text": text(output.text),
            ]
            if let download = output.download {
                members["download_state"] = .string(download.state)
                members["path"] = text(download.path)
                members["sha256"] = text(download.sha256)
                members["size"] = download.size.map(JSONValue.int) ?? .null
                members["content_type"] = text(download.contentType)
            }
            return .object(members)
        }
        return .object([
            "delivery_id": .string(notification.deliveryId),
            "event": .string("job.\(notification.jobState)"),
            "job": .object([
                "id": .int(Int(job.id)),
                "tag": text(job.tag),
                "kind": .string(job.kind),
                "prompt": text(job.prompt),
                "state": .string(notification.jobState),
                "remote_job_id": text(job.remoteJobId),
                "error": text(job.error),
                "error_detail": job.errorDetail.flatMap { JSONValue(parsing: $0) } ?? .null,
                "finished_at": job.finishedAt.map { .string(Timestamp.format($0)) } ?? .null,
                "outputs": .array(outputs),
            ]),
        ])
    }
}
