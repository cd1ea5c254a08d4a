import Foundation
import Hummingbird
import LegnextAPI
import QueueStore
import QueueSupport
import Synchronization

/// The pages a person reads: overview, jobs, one job, gallery, one image.
extension ConsoleServer {
    func overview(_ request: Request) async throws -> Response {
        let store = self.store
        let (status, rate, tags) = try await offload { () throws -> (QueueStatus, Double?, [TagProgress]) in
            (try store.status(), try store.finishRate(), try tagCache.progress { try store.activeTagProgress() })
        }
        let balance = await configuration.balance?.text()
        let remaining = (status.counts[.queued] ?? 0) + status.inFlight
        var context: [String: Any] = [
            "total": ConsoleFormat.count(status.total),
            "states": JobState.allCases.map { state -> [String: Any] in
                ["name": state.rawValue, "count": ConsoleFormat.count(status.counts[state] ?? 0), "meaning": Self.meanings[state] ?? ""]
            },
            "rate": rate.map { String(format: "%.1f", $0) } ?? "—",
            "eta": remaining == 0
                ? "nothing left" : rate.map { $0 > 0 ? "about " + ConsoleFormat.duration(Double(remaining) / $0 * 60) : "—" } ?? "—",
            "credits": ConsoleFormat.count(status.creditsUsed),
            "balance": balance ?? false,
            "health": health(status, remaining: remaining),
            "tags": tags.map { tag -> [String: Any] in
                let total = max(tag.total, 1)
                let failed = (tag.counts[.failed] ?? 0) + (tag.counts[.uncertain] ?? 0)
                let done = tag.finished - failed
                return [
                    "name": tag.tag,
                    "href": "/jobs?tag=" + ConsoleFormat.queryValue(tag.tag),
                    "finished": ConsoleFormat.count(tag.finished),
                    "total": ConsoleFormat.count(tag.total),
                    "failed": failed > 0 ? ConsoleFormat.count(failed) : false,
                    "percent": tag.finished * 100 / total,
                    "doneWidth": done * 1000 / total,
                    "failedWidth": failed * 1000 / total,
                ]
            },
        ]
        if tags.isEmpty { context["tags"] = false }
        return page(request, "overview", context)
    }

    /// A line per account when the daemon runs several (or named ones), and the jobs sent with
    /// an account it no longer runs, which wait for it.
    private func accounts(_ status: QueueStatus) -> [String] {
        guard status.daemonRunning else { return [] }
        let waiting = status.unfollowed.sorted { $0.key < $1.key }.map { account, count in
            "\(countText(count)) job(s) in flight or uncertain were sent with account \(account), which the daemon does not run: they are followed once it runs with --account \(account) again."
        }
        guard status.showsAccounts else { return waiting }
        return waiting
            + status.accounts.map { account in
                var line = "Account \(account.name): \(account.inFlight) in flight of up to \(account.concurrency)"
                if let plan = account.plan { line += " (plan \(plan))" }
                line += ", at most \(Self.rate(account.rate)) requests/s, \(account.creditsUsed) points spent"
                if let points = account.balancePoints {
                    line += ", \(countText(points)) points left\(account.balanceUSD.map { String(format: " ($%.2f)", $0) } ?? "")"
                }
                if let pinned = status.pinned[account.name] { line += ", \(pinned) queued pinned to it" }
                if let reason = account.pausedReason { line += ". Paused: \(reason)" }
                return line
            }
    }

    private func health(_ status: QueueStatus, remaining: Int) -> [String: Any] {
        var health = daemonHealth(status, remaining: remaining)
        let accounts = accounts(status)
        if !accounts.isEmpty, let lines = health["lines"] as? [String] { health["lines"] = lines + accounts }
        return health
    }

    private func daemonHealth(_ status: QueueStatus, remaining: Int) -> [String: Any] {
        guard status.daemonRunning, let daemon = status.daemon else {
            var lines = ["Jobs wait in the queue until it runs: start it with `legnext-queue run` (or `systemctl start legnext-queue`)."]
            if let stopped = status.daemon?.stoppedAt { lines.insert("It stopped at \(ConsoleFormat.time(stopped)) UTC.", at: 0) }
            return ["kind": "stopped", "title": "The daemon is not running", "lines": lines]
        }
        if let reason = daemon.pausedReason {
            var lines = [reason]
            if let since = daemon.pausedSince { lines.append("Paused since \(ConsoleFormat.time(since)) UTC; queued jobs wait, none is lost.") }
            return ["kind": "paused", "title": "Submissions are paused", "lines": lines]
        }
        let beat = Date().timeIntervalSince(daemon.heartbeatAt)
        var lines = [
            "pid \(daemon.pid) on \(daemon.hostname), version \(daemon.version); \(daemon.inFlight) in flight of \(daemon.concurrency), at most \(Self.rate(daemon.rate)) requests/s to \(daemon.baseURL).",
            "Last heartbeat \(ConsoleFormat.duration(max(0, beat))) ago.",
        ]
        if remaining == 0 { lines.append("Nothing to do: add prompts below, or with `legnext-queue enqueue`.") }
        return ["kind": remaining == 0 ? "idle" : "ok", "title": "The daemon is running", "lines": lines]
    }

    private static func rate(_ rate: Double) -> String { rate == 0 ? "unlimited" : String(format: "%g", rate) }

    static let meanings: [JobState: String] = [
        .queued: "waiting to be submitted", .submitting: "being sent to Legnext", .pending: "accepted, waiting to start",
        .staged: "accepted, staged", .processing: "rendering at Legnext", .completed: "finished with outputs",
        .failed: "finished without output", .cancelled: "cancelled before it was sent", .uncertain: "may have reached Legnext; held for a person",
    ]

    func jobs(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? {
            guard let text = query.get(name)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        var filter = JobFilter(tag: value("tag"), kind: value("kind"), text: value("q"))
        var notes: [String] = []
        if let state = value("state") {
            if let known = JobState(rawValue: state) {
                filter.state = known
            } else {
                notes.append("there is no state \"\(state)\"; showing every state")
            }
        }
        if let kind = filter.kind, LegnextKind(rawValue: kind) == nil {
            notes.append("there is no kind \"\(kind)\"; showing every kind")
            filter.kind = nil
        }
        // Ids start at 1: anything else (a negative, an overflowing number) is no page bound.
        let before = value("before").flatMap { Int64($0) }.flatMap { $0 >= 1 ? $0 : nil }
        let after = value("after").flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil }
        let store = self.store
        let size = configuration.pageSize
        let chosen = filter
        let (listing, tags) = try await offload { (try store.jobPage(chosen, before: before, after: after, limit: size), try store.recentTags()) }
        func link(_ key: String, _ id: Int64) -> String {
            var items = [(key, String(id))]
            if let state = filter.state { items.append(("state", state.rawValue)) }
            if let tag = filter.tag { items.append(("tag", tag)) }
            if let kind = filter.kind { items.append(("kind", kind)) }
            if let text = filter.text { items.append(("q", text)) }
            return "/jobs?" + items.map { "\($0.0)=\(ConsoleFormat.queryValue($0.1))" }.joined(separator: "&")
        }
        var context: [String: Any] = [
            "filter": ["tag": filter.tag ?? "", "q": filter.text ?? ""],
            "stateOptions": JobState.allCases.map { ["name": $0.rawValue, "selected": $0 == filter.state] },
            "kindOptions": LegnextKind.allCases.map { ["name": $0.rawValue, "selected": $0.rawValue == filter.kind] },
            "tagOptions": tags,
            "jobs": listing.jobs.map(Self.row),
            "empty": listing.searched == nil ? "No jobs match." : "No match in these jobs; look further with older ›.",
            "newer": listing.newer.map { link("after", $0) } ?? false,
            "older": listing.older.map { link("before", $0) } ?? false,
            "searched": listing.searched.map { "searched jobs \(ConsoleFormat.count(Int($0.lowerBound)))–\(ConsoleFormat.count(Int($0.upperBound)))" }
                ?? false,
            "retryTag": filter.tag.map { tag in filter.state == .failed ? tag as Any : false } ?? false,
        ]
        if !notes.isEmpty { context["flash"] = ["kind": "bad", "text": notes.joined(separator: "; ")] }
        return page(request, "jobs", context)
    }

    static func row(_ job: Job) -> [String: Any] {
        [
            "id": job.id,
            "kind": job.kind,
            "state": job.state.rawValue,
            "tag": job.tag ?? "",
            "prompt": ConsoleFormat.short(job.prompt ?? (job.readError.map { "unreadable row: \($0)" })),
            "updated": ConsoleFormat.time(job.updatedAt),
            "error": ConsoleFormat.short(job.error),
        ]
    }

    func job(_ request: Request, id: Int64) async throws -> Response {
        let store = self.store
        let detail: JobDetail
        let followUps: [Job]
        do {
            (detail, followUps) = try await offload { (try store.detail(id), try store.followUps(of: id)) }
        } catch StoreError.noSuchJob {
            return message(request, status: .notFound, "No job \(id)", ["There is no job \(id) in this queue."], back: "/jobs")
        }
        let job = detail.job
        let seed = job.seed
        let context: [String: Any] = [
            "job": [
                "id": job.id, "kind": job.kind, "state": job.state.rawValue, "prompt": job.prompt ?? "", "params": Self.pretty(job.params),
                "tag": job.tag ?? false, "tagHref": job.tag.map { "/jobs?tag=" + ConsoleFormat.queryValue($0) } ?? "",
                "reason": job.reason ?? false, "error": job.error ?? false, "errorDetail": job.errorDetail ?? false,
                "parent": job.parentId ?? false, "remote": job.remoteJobId ?? false, "remoteStatus": job.remoteStatus ?? "",
                "seed": seed ?? false, "credits": job.creditsUsed ?? false, "requests": job.requests, "attempts": job.attempts,
                "oneAttempt": job.attempts == 1, "created": ConsoleFormat.time(job.createdAt),
                "submitted": job.submittedAt.map(ConsoleFormat.time) ?? false, "finished": job.finishedAt.map(ConsoleFormat.time) ?? false,
                "readError": job.readError ?? false,
            ] as [String: Any],
            "outputs": detail.outputs.map(Self.output),
            "followUps": followUps.map { ["id": $0.id, "kind": $0.kind, "state": $0.state.rawValue] },
            "events": detail.events.map { event -> [String: Any] in
                ["at": ConsoleFormat.time(event.at), "from": event.fromState ?? false, "to": event.toState ?? "", "detail": event.detail ?? false]
            },
            "hasOutputs": !detail.outputs.isEmpty,
            "hasFollowUps": !followUps.isEmpty,
            "canCancel": job.state == .queued || job.state == .uncertain,
            "canRetry": [.failed, .uncertain, .cancelled].contains(job.state),
        ]
        return page(request, "job", context)
    }

    static func output(_ output: JobOutput) -> [String: Any] {
        let saved = output.download?.state == "done"
        var note: Any = false
        if let download = output.download, !saved {
            note = download.error.map { "not saved: \($0)" } ?? (download.state == "pending" ? "downloading" : download.state)
        } else if output.download == nil, output.kind != .text {
            note = "not downloaded (the daemon runs without --output-dir)"
        }
        return [
            "jobId": output.jobId, "kind": output.kind.rawValue, "index": output.index,
            "image": saved && (output.kind == .grid || output.kind == .image),
            "video": saved && output.kind == .video,
            "text": output.text ?? false,
            "url": output.url.flatMap { $0.hasPrefix("https://") || $0.hasPrefix("http://") ? $0 : nil } ?? false,
            "note": note,
        ]
    }

    func image(_ request: Request, id: Int64, kind: String, index: Int) async throws -> Response {
        let store = self.store
        guard let outputKind = JobOutput.Kind(rawValue: kind), outputKind != .text else {
            return message(request, status: .notFound, "No such output", ["Outputs are grid, image or video."], back: "/jobs/\(id)")
        }
        let detail: JobDetail
        do {
            detail = try await offload { try store.detail(id) }
        } catch StoreError.noSuchJob {
            return message(request, status: .notFound, "No job \(id)", ["There is no job \(id) in this queue."], back: "/gallery")
        }
        guard detail.outputs.contains(where: { $0.kind == outputKind && $0.index == index && $0.download?.state == "done" }) else {
            return message(request, status: .notFound, "Not saved", ["Job \(id) has no saved \(kind) \(index)."], back: "/jobs/\(id)")
        }
        let job = detail.job
        let actions =
            job.state == .completed
            ? FollowUpAction.offered(parentKind: job.kind, parentPrompt: job.prompt, image: outputKind == .image).map { action -> [String: Any] in
                ["action": action.name, "label": action.label, "imageNo": action.wholeJob ? "" : String(index)]
            } : []
        return page(
            request,
            "image",
            [
                "jobId": id, "kind": kind, "index": index, "prompt": job.prompt ?? "", "seed": job.seed ?? false,
                "image": outputKind != .video, "video": outputKind == .video, "actions": actions, "hasActions": !actions.isEmpty,
            ]
        )
    }

    func gallery(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let tag = query.get("tag").flatMap { $0.isEmpty ? nil : $0 }
        let before = query.get("before").flatMap { Int64($0) }.flatMap { $0 >= 1 ? $0 : nil }
        let store = self.store
        let (listing, tags) = try await offload { (try store.galleryPage(tag: tag, before: before), try store.recentTags()) }
        var older: Any = false
        if let next = listing.older {
            older = "/gallery?before=\(next)" + (tag.map { "&tag=" + ConsoleFormat.queryValue($0) } ?? "")
        }
        return page(
            request,
            "gallery",
            [
                "tag": tag ?? "", "tagged": tag ?? false, "tagOptions": tags, "older": older,
                "items": listing.items.map { item -> [String: Any] in
                    [
                        "jobId": item.jobId, "kind": item.kind.rawValue, "index": item.index, "prompt": item.prompt ?? "",
                        "short": ConsoleFormat.short(item.prompt ?? item.jobKind, 48),
                        "image": item.kind != .video, "video": item.kind == .video,
                    ]
                },
            ]
        )
    }

    /// A page with its session: the CSRF token for its forms and, when the browser has none
    /// yet, the session cookie; a flash message left by the last action is shown and cleared.
    func page(_ request: Request, _ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let existing = request.cookies[ConsoleSecurity.sessionCookie]?.value
        let session = existing ?? ConsoleSecurity.newSession()
        var context = values
        context["csrf"] = security.formToken(session: session)
        context["database"] = store.path
        // A sign-out button wherever a sign-in is asked for (not on the sign-in page itself).
        if security.token != nil, template != "login" { context["signedIn"] = true }
        if context["flash"] == nil, let flash = request.cookies[Self.flashCookie]?.value, let decoded = Self.decodeFlash(flash) {
            context["flash"] = decoded
        }
        var response = Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: templates.render(template, context)))
        )
        if existing == nil { response.setCookie(ConsoleSecurity.sessionCookie(session)) }
        if request.cookies[Self.flashCookie] != nil {
            response.setCookie(Cookie(name: Self.flashCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    func message(_ request: Request, status: HTTPResponse.Status, _ heading: String, _ lines: [String], back: String? = nil) -> Response {
        page(request, "message", ["heading": heading, "lines": lines, "back": back ?? false], status: status)
    }

    static func pretty(_ params: String) -> String {
        guard params != "{}", let value = try? JSONSerialization.jsonObject(with: Data(params.utf8)),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return params }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Per-tag progress, recounted at most every few seconds however often pages ask: a big tag
/// costs its size to count (see `QueueStore.activeTagProgress`). Pages that ask while it is
/// being counted wait for that count rather than start their own (this runs on an offload
/// thread, never on Swift's cooperative pool, so holding the lock while counting is fine).
final class TagProgressCache: Sendable {
    private let cached = Mutex<(at: Date, value: [TagProgress])?>(nil)
    let maxAge: TimeInterval = 3
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    func progress(_ compute: () throws -> [TagProgress]) throws -> [TagProgress] {
        try cached.withLock { cached in
            if let hit = cached, now().timeIntervalSince(hit.at) < maxAge { return hit.value }
            let value = try compute()
            cached = (now(), value)
            return value
        }
    }
}

/// Runs a blocking database call off Swift's cooperative threads: a statement may wait up to
/// the busy timeout for a `sqlite3` shell's lock.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
