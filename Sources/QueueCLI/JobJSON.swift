import Foundation
import LegnextAPI
import QueueStore
import QueueSupport

/// The JSON shapes `list`, `show` and `status` print; stable for scripts.
enum JobJSON {
    static func stamp(_ date: Date?) -> JSONValue { date.map { .string(Timestamp.format($0)) } ?? .null }

    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// A JSON column as JSON (not as a string holding JSON).
    static func embedded(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        return JSONValue(parsing: text) ?? .string(text)
    }

    static func job(_ job: Job) -> JSONValue {
        .object([
            "id": .int(Int(job.id)),
            "kind": .string(job.kind),
            "prompt": text(job.prompt),
            "params": embedded(job.params),
            "tag": text(job.tag),
            "priority": .int(job.priority),
            "run_after": stamp(job.runAfter),
            "idempotency_key": text(job.idempotencyKey),
            "parent_id": job.parentId.map { .int(Int($0)) } ?? .null,
            "account": text(job.account),
            "remote_account": text(job.remoteAccount),
            "state": .string(job.state.rawValue),
            "reason": text(job.reason),
            "remote_job_id": text(job.remoteJobId),
            "remote_status": text(job.remoteStatus),
            "attempts": .int(job.attempts),
            "requests": .int(job.requests),
            "error": text(job.error),
            "read_error": text(job.readError),
            "error_detail": embedded(job.errorDetail),
            "output": embedded(job.output),
            "credits_used": job.creditsUsed.map { .int($0) } ?? .null,
            "created_at": stamp(job.createdAt),
            "updated_at": stamp(job.updatedAt),
            "submitted_at": stamp(job.submittedAt),
            "finished_at": stamp(job.finishedAt),
        ])
    }

    static func event(_ event: JobEvent) -> JSONValue {
        .object([
            "id": .int(Int(event.id)), "at": stamp(event.at), "from_state": text(event.fromState), "to_state": text(event.toState),
            "detail": text(event.detail),
        ])
    }

    static func output(_ output: JobOutput) -> JSONValue {
        var members: [String: JSONValue] = [
            "kind": .string(output.kind.rawValue), "index": .int(output.index), "url": text(output.url), "text": text(output.text),
        ]
        if let download = output.download {
            members["download"] = .object([
                "state": .string(download.state), "path": text(download.path), "size": download.size.map(JSONValue.int) ?? .null,
                "content_type": text(download.contentType), "sha256": text(download.sha256), "attempts": .int(download.attempts),
                "error": text(download.error),
            ])
        }
        return .object(members)
    }

    static func notification(_ note: JobNotification) -> JSONValue {
        .object([
            "delivery_id": .string(note.deliveryId), "channel": .string(note.channel.rawValue), "job_state": .string(note.jobState),
            "state": .string(note.state), "attempts": .int(note.attempts), "last_error": text(note.lastError),
            "created_at": stamp(note.createdAt), "delivered_at": stamp(note.deliveredAt),
        ])
    }

    static func detail(_ detail: JobDetail) -> JSONValue {
        guard case .object(var members) = job(detail.job) else { return .null }
        members["events"] = .array(detail.events.map(event))
        if !detail.unreadable.isEmpty { members["unreadable"] = .array(detail.unreadable.map { .string($0) }) }
        members["outputs"] = .array(detail.outputs.map(output))
        members["notifications"] = .array(detail.notifications.map(notification))
        return .object(members)
    }

    static func status(_ status: QueueStatus, path: String) -> JSONValue {
        var daemon: JSONValue = .null
        if let info = status.daemon {
            daemon = .object([
                "running": .bool(status.daemonRunning),
                "pid": .int(Int(info.pid)),
                "hostname": .string(info.hostname),
                "version": .string(info.version),
                "base_url": .string(info.baseURL),
                "concurrency": .int(info.concurrency),
                "rate": .double(info.rate),
                "current_rate": info.currentRate.map(JSONValue.double) ?? .null,
                "in_flight": .int(info.inFlight),
                "started_at": stamp(info.startedAt),
                "heartbeat_at": stamp(info.heartbeatAt),
                "heartbeat_age_seconds": .double((status.at.timeIntervalSince(info.heartbeatAt) * 1000).rounded() / 1000),
                "stopped_at": stamp(info.stoppedAt),
                "paused_reason": text(info.pausedReason),
                "paused_since": stamp(info.pausedSince),
            ])
        } else if status.daemonRunning {
            daemon = .object(["running": .bool(true)])
        }
        return .object([
            "database": .string(path),
            "counts": .object(Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, JSONValue.int(status.counts[$0] ?? 0)) })),
            "total": .int(status.total),
            "in_flight": .int(status.inFlight),
            "oldest_queued_at": stamp(status.oldestQueuedAt),
            "oldest_queued_age_seconds": status.oldestQueuedAt.map { .double(max(0, status.at.timeIntervalSince($0))) } ?? .null,
            "credits_used": .int(status.creditsUsed),
            "daemon": daemon,
            "unfollowed": .object(status.unfollowed.mapValues { .int($0) }),
            "accounts": .array(
                status.accounts.map { account in
                    .object([
                        "name": .string(account.name),
                        "concurrency": .int(account.concurrency),
                        "plan": account.plan.map(JSONValue.int) ?? .null,
                        "rate": .double(account.rate),
                        "current_rate": account.currentRate.map(JSONValue.double) ?? .null,
                        "priority": .int(account.priority),
                        "in_flight": .int(account.inFlight),
                        "credits_used": .int(account.creditsUsed),
                        "queued_pinned": .int(status.pinned[account.name] ?? 0),
                        "balance_points": account.balancePoints.map(JSONValue.int) ?? .null,
                        "balance_usd": account.balanceUSD.map(JSONValue.double) ?? .null,
                        "balance_at": stamp(account.balanceAt),
                        "paused_reason": text(account.pausedReason),
                        "paused_since": stamp(account.pausedSince),
                    ])
                }
            ),
        ])
    }

    /// Pretty-printed JSON text.
    static func render(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}
