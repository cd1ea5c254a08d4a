import Foundation
import Hummingbird
import LegnextAPI
import QueueStore
import QueueSupport

/// What a person does from the console: enqueue, cancel, retry, follow-ups, sign in. Every
/// form is checked for its CSRF token; the outcome is shown on the page it returns to.
extension ConsoleServer {
    static let flashCookie = "lnq_flash"
    static let maxForm = 1 << 20

    /// The posted form, or nil (a response to return) when it is not this console's.
    private func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: Self.maxForm)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// The posted form's fields handed to `body` when the form is this console's (its CSRF
    /// token and origin), else a page that says to reload, linking `back`.
    private func checked(_ request: Request, back: String = "/", _ body: ([String: String]) async throws -> Response) async throws -> Response {
        let fields = try await form(request)
        guard security.acceptsForm(request, token: fields["csrf"]) else {
            return message(
                request,
                status: .forbidden,
                "The form has expired",
                ["It did not come from a page this console showed you (or the console restarted since). Reload the page and try again."],
                back: back
            )
        }
        return try await body(fields)
    }

    /// Back to `location` with a message shown there once.
    func redirect(_ location: String, _ text: String, bad: Bool = false) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location])
        response.setCookie(
            Cookie(name: Self.flashCookie, value: Self.encodeFlash(text, bad: bad), maxAge: 60, path: "/", httpOnly: true, sameSite: .strict)
        )
        return response
    }

    static func encodeFlash(_ text: String, bad: Bool) -> String {
        Data(((bad ? "!" : " ") + String(text.prefix(1_500))).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeFlash(_ value: String) -> [String: Any]? {
        var base64 = value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8), let mark = text.first else { return nil }
        return ["kind": mark == "!" ? "bad" : "ok", "text": String(text.dropFirst())]
    }

    func enqueue(_ request: Request) async throws -> Response {
        try await checked(request) { fields in
            let tag = fields["tag"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
            var jobs: [NewJob] = []
            var problems: [String] = []
            let lines = (fields["prompts"] ?? "").split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            for (number, line) in lines.enumerated() {
                let prompt = line.trimmingCharacters(in: .whitespaces)
                if prompt.isEmpty || prompt.hasPrefix("#") { continue }
                do {
                    _ = try LegnextRequest.job(kind: "diffusion", prompt: prompt, params: [:], hasParent: false, parentRemoteJobId: nil)
                    jobs.append(NewJob(prompt: prompt, tag: tag))
                } catch {
                    problems.append("line \(number + 1): \(error)")
                }
            }
            guard problems.isEmpty else {
                return message(
                    request,
                    status: .unprocessableContent,
                    "Nothing was enqueued",
                    problems + ["Fix these lines and send the form again."],
                    back: "/"
                )
            }
            guard !jobs.isEmpty else { return redirect("/", "No prompt given: write one per line.", bad: true) }
            let store = self.store
            let result = try await offload { [jobs] in try store.enqueue(jobs) }
            let ids = result.ids
            let span = ids.count == 1 ? "job \(ids[0])" : "jobs \(ids.first ?? 0)–\(ids.last ?? 0)"
            return redirect(tag.map { "/jobs?tag=" + ConsoleFormat.queryValue($0) } ?? "/jobs", "Enqueued \(ids.count) (\(span)).")
        }
    }

    func cancel(_ request: Request, id: Int64) async throws -> Response {
        try await checked(request) { _ in
            let store = self.store
            let outcome = try await offload { try store.cancel([id]) }
            return redirect("/jobs/\(id)", Self.describe(outcome, done: "cancelled"), bad: !Self.allDone(outcome))
        }
    }

    func retry(_ request: Request, id: Int64) async throws -> Response {
        try await checked(request) { _ in
            let store = self.store
            let outcome = try await offload { try store.retry([id]) }
            return redirect("/jobs/\(id)", Self.describe(outcome, done: "queued again"), bad: !Self.allDone(outcome))
        }
    }

    func retryFailed(_ request: Request) async throws -> Response {
        try await checked(request) { fields in
            guard let tag = fields["tag"], !tag.isEmpty else {
                return redirect("/jobs?state=failed", "Name the tag whose failed jobs to retry.", bad: true)
            }
            let store = self.store
            let outcome = try await offload { try store.retry(try store.ids(states: [.failed], tag: tag)) }
            let done = outcome.filter { if case .done = $0.outcome { true } else { false } }.count
            let text = outcome.isEmpty ? "No failed job is tagged \(tag)." : "Queued \(done) of \(outcome.count) failed jobs of \(tag) again."
            return redirect("/jobs?tag=" + ConsoleFormat.queryValue(tag), text, bad: done < outcome.count)
        }
    }

    func followUp(_ request: Request, id: Int64) async throws -> Response {
        try await checked(request) { fields in
            guard let action = fields["action"].flatMap(FollowUpAction.named) else {
                return redirect("/jobs/\(id)", "Unknown action \"\(ConsoleFormat.short(fields["action"], 40))\".", bad: true)
            }
            let imageNo = fields["imageNo"].flatMap { Int($0) }
            if !action.wholeJob, !(0...3).contains(imageNo ?? -1) {
                return redirect("/jobs/\(id)", "\(action.label) needs an image number 0–3.", bad: true)
            }
            let store = self.store
            guard let parent = try await offload({ try store.job(id) }) else {
                return message(request, status: .notFound, "No job \(id)", ["There is no job \(id) in this queue."], back: "/gallery")
            }
            if let why = action.kind.parentProblem(parentKind: parent.kind, parentPrompt: parent.prompt, extensions: 0) {
                return redirect("/jobs/\(id)", "Job \(id) cannot be the parent: \(why)", bad: true)
            }
            let params = action.params(imageNo: imageNo)
            do {
                _ = try LegnextRequest.job(kind: action.kind.rawValue, prompt: nil, params: params, hasParent: true, parentRemoteJobId: "parent")
            } catch {
                return redirect("/jobs/\(id)", "\(action.label): \(error)", bad: true)
            }
            let job = NewJob(kind: action.kind.rawValue, prompt: nil, params: JSONValue.object(params).jsonText, tag: parent.tag, parentId: id)
            let result = try await offload { try store.enqueue([job]) }
            let newId = result.ids.first ?? 0
            let which = action.wholeJob ? "" : " of image \(imageNo ?? 0)"
            return redirect("/jobs/\(newId)", "Enqueued job \(newId): \(action.label)\(which) of job \(id).")
        }
    }

    func loginPage(_ request: Request, failed: Bool) -> Response {
        failed
            ? loginPage(request, flash: "That is not the token. It is the text of the file given to --ui-token-file.", status: .unauthorized)
            : loginPage(request, flash: nil, status: .ok)
    }

    func loginPage(_ request: Request, flash: String?, status: HTTPResponse.Status) -> Response {
        let next = request.uri.queryParameters.get("next") ?? "/"
        var context: [String: Any] = ["next": Self.localPath(next) ?? "/"]
        if security.token == nil { return redirect("/", "This console needs no sign-in.") }
        if let flash { context["flash"] = ["kind": "bad", "text": flash] }
        return page(request, "login", context, status: status)
    }

    func login(_ request: Request, client: String) async throws -> Response {
        // Only this console's own sign-in page may try tokens (and spend this address's tries):
        // its form carries the CSRF token of the browser's session, which another site's page
        // (a sandboxed frame sends `Origin: null`) cannot read.
        try await checked(request, back: "/login") { fields in
            switch await security.check(fields["token"] ?? "", from: client) {
            case .closed(let wait):
                let seconds = wait.components.seconds
                var response = loginPage(
                    request,
                    flash:
                        "Too many wrong tokens from this address: sign-in is closed for \(seconds) s. Check the file given to --ui-token-file, then try again.",
                    status: .tooManyRequests
                )
                response.headers[.retryAfter] = String(seconds)
                return response
            case .wrong:
                return loginPage(request, failed: true)
            case .right:
                let next = fields["next"].flatMap(Self.localPath) ?? "/"
                var response = Response(status: .seeOther, headers: [.location: next])
                response.setCookie(security.signInCookie())
                return response
            }
        }
    }

    func logout(_ request: Request) async throws -> Response {
        try await checked(request) { _ in
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(await security.signOut(request))
            return response
        }
    }

    /// `path` if it names a page of this console: one leading slash, then no slash or backslash
    /// at once, no whitespace or control character (browsers read `/\\host` and `/<tab>/host` as
    /// another site).
    static func localPath(_ path: String) -> String? {
        let scalars = Array(path.unicodeScalars)
        guard scalars.first == "/", scalars.count == 1 || (scalars[1] != "/" && scalars[1] != "\\") else { return nil }
        guard !scalars.contains(where: { $0 == "\\" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
        return path
    }

    static func allDone(_ outcome: [(id: Int64, outcome: AdminOutcome)]) -> Bool {
        outcome.allSatisfy { if case .done = $0.outcome { true } else { false } }
    }

    static func describe(_ outcome: [(id: Int64, outcome: AdminOutcome)], done: String) -> String {
        outcome.map { item in
            switch item.outcome {
            case .done(let from): "Job \(item.id) \(done) (it was \(from.rawValue))."
            case .notFound: "There is no job \(item.id)."
            case .refused(let why): why.prefix(1).uppercased() + why.dropFirst() + "."
            }
        }.joined(separator: " ")
    }
}
