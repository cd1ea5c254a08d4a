import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import QueueStore
import QueueTestSupport
import Testing

@testable import LegnextSimulator
@testable import QueueConsole

/// The console over loopback with a real HTTP client: what it shows, what it refuses, and
/// which files it opens. (Chromium drives the same pages in scripts/browser-test.sh.)
@Suite(.serialized) struct ConsoleServerTests {
    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var bytes: [UInt8]
        var body: String { String(decoding: bytes, as: UTF8.self) }
        var cookies: [String: String] {
            var jar: [String: String] = [:]
            for line in headers["set-cookie"] {
                let pair = line.split(separator: ";").first.map(String.init) ?? ""
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { jar[parts[0]] = parts[1] }
            }
            return jar
        }
    }

    /// A console on an ephemeral loopback port over a fresh queue, for the length of `body`.
    static func withConsole(
        token: String? = nil,
        now: @escaping @Sendable () -> Date = Date.init,
        _ body: @Sendable (_ base: String, _ store: QueueStore, _ dir: TemporaryDirectory) async throws -> Void
    ) async throws {
        let dir = try TemporaryDirectory("console")
        defer { dir.remove() }
        let store = try QueueStore.open(path: dir.file("queue.db"), options: .init(create: true, migrate: true))
        let outputs = dir.file("outputs")
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        var configuration = ConsoleConfiguration(host: "127.0.0.1", port: 0, token: token, outputDirectory: outputs)
        configuration.now = now
        let server = try ConsoleServer(store: store, configuration: configuration, logger: Logger(label: "console-test"))
        let running = Task { try await server.run() }
        defer { running.cancel() }
        let port = try #require(await server.port())
        try await body("http://127.0.0.1:\(port)", store, dir)
    }

    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func send(_ url: String, method: HTTPMethod = .GET, form: [String: String]? = nil, headers: [String: String] = [:]) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let form {
            request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            let text = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: text))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, bytes: Array(buffer.readableBytesView))
    }

    /// The session cookie and the form token a page gave a browser.
    struct Session {
        var cookie: String
        var csrf: String
    }

    static func session(_ url: String, headers: [String: String] = [:]) async throws -> Session {
        let page = try await send(url, headers: headers)
        let cookie = try #require(page.cookies[ConsoleSecurity.sessionCookie])
        let csrf = try #require(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        return Session(cookie: "\(ConsoleSecurity.sessionCookie)=\(cookie)", csrf: String(csrf))
    }

    /// A form posted as that browser: its cookie and its form token, plus `headers`.
    static func post(_ url: String, _ form: [String: String] = [:], as session: Session, headers: [String: String] = [:]) async throws -> Reply {
        try await send(
            url,
            method: .POST,
            form: form.merging(["csrf": session.csrf]) { $1 },
            headers: ["cookie": session.cookie].merging(headers) { $1 }
        )
    }

    /// With a pool of accounts, the overview shows each one, and why one is paused, as text.
    @Test func theOverviewShowsEachAccountAndWhyOneIsPaused() async throws {
        try await Self.withConsole { base, store, _ in
            let lock = try DaemonLock.acquire(path: store.path)
            defer { withExtendedLifetime(lock) {} }
            let now = Date()
            try await store.registerDaemon(
                DaemonInfo(pid: 1, hostname: "h", version: "v", baseURL: "http://sim", concurrency: 16, rate: 4, startedAt: now, heartbeatAt: now)
            )
            try await store.registerAccounts(
                [AccountInfo(name: "a", concurrency: 8, plan: 6, rate: 2), AccountInfo(name: "b", concurrency: 8, rate: 2)],
                now: now
            )
            try await store.accountHeartbeat(
                "b",
                now: now,
                inFlight: 0,
                currentRate: nil,
                pausedReason: "out of credit <at> Legnext",
                pausedSince: now
            )
            try await store.recordBalance("a", points: 12_345, usd: 12.5, now: now)
            _ = try store.enqueue([NewJob(prompt: "for b", account: "b"), NewJob(prompt: "sent with c")])
            // Sent by an earlier start that ran account c: it waits for c, and the page says so.
            _ = try await store.claim(limit: 1, now: now, callbackTokens: false, route: AccountRoute(name: "c", all: ["c"]))
            let page = try await Self.send(base + "/")
            #expect(page.body.contains("Account a: 0 in flight of up to 8 (plan 6)"), "\(page.body)")
            #expect(page.body.contains("12,345 points left ($12.50)"))
            #expect(page.body.contains("Account b: 0 in flight of up to 8, at most 2 requests/s, 0 points spent, 1 queued pinned to it."))
            #expect(page.body.contains("Paused: out of credit &lt;at&gt; Legnext"), "the reason is text")
            #expect(page.body.contains("1 job(s) in flight or uncertain were sent with account c, which the daemon does not run"))
        }
    }

    @Test func promptsTagsAndErrorsAreShownAsText() async throws {
        try await Self.withConsole { base, store, _ in
            _ = try store.enqueue([NewJob(prompt: "a <script>alert(1)</script> fox", tag: "<b>t</b>\"'")])
            for path in ["/", "/jobs", "/jobs/1", "/jobs?q=%3Cscript", "/gallery?tag=%3Cb%3E"] {
                let page = try await Self.send(base + path)
                #expect(page.status == 200, "\(path)")
                #expect(!page.body.contains("<script>alert") && !page.body.contains("<b>t</b>"), "\(path): \(page.body)")
                #expect(page.headers["content-security-policy"].first?.contains("script-src 'self'") == true)
            }
            let job = try await Self.send(base + "/jobs/1")
            #expect(job.body.contains("a &lt;script&gt;alert(1)&lt;/script&gt; fox"))
            #expect(job.body.contains("&lt;b&gt;t&lt;/b&gt;&quot;&#39;"))
        }
    }

    @Test func aFormWithoutItsTokenOrFromAnotherSiteChangesNothing() async throws {
        try await Self.withConsole { base, store, _ in
            _ = try store.enqueue([NewJob(prompt: "one"), NewJob(prompt: "two")])
            let session = try await Self.session(base + "/jobs/1")
            let missing = try await Self.send(base + "/jobs/1/cancel", method: .POST, form: [:], headers: ["cookie": session.cookie])
            #expect(missing.status == 403 && missing.body.contains("Reload the page"))
            let otherSession = try await Self.post(base + "/jobs/1/cancel", as: session, headers: ["cookie": "lnq_session=0000"])
            #expect(otherSession.status == 403, "a token is good for its own session only")
            let foreign = try await Self.post(base + "/jobs/1/cancel", as: session, headers: ["origin": "http://evil.example"])
            #expect(foreign.status == 403)
            #expect(try store.job(1)?.state == .queued)
            let done = try await Self.post(base + "/jobs/1/cancel", as: session, headers: ["origin": base])
            #expect(done.status == 303 && done.headers["location"].first == "/jobs/1")
            #expect(try store.job(1)?.state == .cancelled)
            let flash = try #require(done.cookies[ConsoleServer.flashCookie])
            let shown = try await Self.send(base + "/jobs/1", headers: ["cookie": "\(session.cookie); \(ConsoleServer.flashCookie)=\(flash)"])
            #expect(shown.body.contains("Job 1 cancelled (it was queued)."), "\(shown.body)")
            let again = try await Self.post(base + "/jobs/1/cancel", as: session)
            let refusal = try #require(again.cookies[ConsoleServer.flashCookie].flatMap(ConsoleServer.decodeFlash))
            #expect(refusal["kind"] as? String == "bad" && (refusal["text"] as? String)?.contains("already cancelled") == true)
        }
    }

    /// Enqueue from the form: every line checked first, nothing enqueued when one is wrong.
    @Test func theEnqueueFormChecksEveryLineFirst() async throws {
        try await Self.withConsole { base, store, _ in
            let session = try await Self.session(base + "/")
            let long = String(repeating: "x", count: 8_193)
            let bad = try await Self.post(base + "/enqueue", ["prompts": "a fox\n\(long)\n", "tag": "t"], as: session)
            #expect(bad.status == 422 && bad.body.contains("line 2:") && bad.body.contains("Nothing was enqueued"), "\(bad.body.prefix(2_000))")
            #expect(try store.status().total == 0)
            let good = try await Self.post(base + "/enqueue", ["prompts": "a fox\n# a comment\n\n  an owl  \n", "tag": "night"], as: session)
            #expect(good.status == 303 && good.headers["location"].first == "/jobs?tag=night")
            let jobs = try store.list(limit: 10)
            #expect(jobs.map(\.prompt) == ["an owl", "a fox"] && jobs.allSatisfy { $0.tag == "night" })
        }
    }

    @Test func aFollowUpIsEnqueuedWithItsParentAndImage() async throws {
        try await Self.withConsole { base, store, _ in
            _ = try store.enqueue([NewJob(prompt: "a fox", tag: "foxes"), NewJob(kind: "shorten", prompt: "a long prompt")])
            let session = try await Self.session(base + "/")
            let pan = try await Self.post(base + "/jobs/1/follow-up", ["action": "pan-left", "imageNo": "2"], as: session)
            #expect(pan.status == 303 && pan.headers["location"].first == "/jobs/3")
            let job = try #require(try store.job(3))
            #expect(job.kind == "pan" && job.parentId == 1 && job.tag == "foxes")
            #expect(job.params == #"{"direction":3,"imageNo":2,"scale":1.5}"#, "left is Legnext's 3")
            let text = try await Self.post(base + "/jobs/2/follow-up", ["action": "upscale-subtle", "imageNo": "0"], as: session)
            let why = try #require(text.cookies[ConsoleServer.flashCookie].flatMap(ConsoleServer.decodeFlash))
            #expect((why["text"] as? String)?.contains("cannot be the parent") == true, "\(why)")
            #expect(try store.status().total == 3)
        }
    }

    /// Numbers and paths from a URL are bounded before use: no overflow, no way off the site.
    @Test func oddQueriesAndSignInTargetsAreHarmless() async throws {
        try await Self.withConsole { base, store, _ in
            _ = try store.enqueue([NewJob(prompt: "one", tag: "a&state=failed")])
            for path in [
                "/jobs?before=-9223372036854775808", "/jobs?after=-9223372036854775808&q=x", "/jobs?before=99999999999999999999",
                "/gallery?before=-9223372036854775808", "/jobs?state=nope&kind=nope",
            ] {
                #expect(try await Self.send(base + path).status == 200, "\(path)")
            }
            let page = try await Self.send(base + "/jobs/1")
            #expect(page.body.contains(#"href="/jobs?tag=a%26state%3Dfailed""#), "a tag link carries the tag, encoded")
        }
        for bad in ["//evil.example/", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "evil", "/ok\n"] {
            #expect(ConsoleServer.localPath(bad) == nil, "\(bad.debugDescription)")
        }
        #expect(ConsoleServer.localPath("/jobs?tag=a") == "/jobs?tag=a" && ConsoleServer.localPath("/") == "/")
        // Sign-in tries are counted per IPv4 address and per IPv6 /64 (an IPv4-mapped one is its IPv4).
        #expect(ConsoleRequestContext.client("192.0.2.7") == "192.0.2.7" && ConsoleRequestContext.client("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(ConsoleRequestContext.client("2001:db8:1:2:aaaa::1") == ConsoleRequestContext.client("2001:db8:1:2:bbbb::9"))
        #expect(ConsoleRequestContext.client("2001:db8:1:2::1") != ConsoleRequestContext.client("2001:db8:1:3::1"))
        #expect(ConsoleRequestContext.client(nil) == "unknown")
        #expect(
            ConsoleConfiguration.isLoopback("127.0.0.1") && ConsoleConfiguration.isLoopback("127.8.9.10") && ConsoleConfiguration.isLoopback("[::1]")
        )
        #expect(
            !ConsoleConfiguration.isLoopback("127.example.com") && !ConsoleConfiguration.isLoopback("0.0.0.0")
                && !ConsoleConfiguration.isLoopback("::")
        )
    }

    /// On loopback without a token, a page reached by another host name (DNS rebinding) is refused.
    @Test func anotherHostNameIsRefusedOnLoopback() async throws {
        try await Self.withConsole { base, _, _ in
            let foreign = try await Self.send(base + "/", headers: ["host": "evil.example"])
            #expect(foreign.status == 421 && foreign.body.contains("127.0.0.1"))
            #expect(try await Self.send(base + "/", headers: ["host": "localhost:1"]).status == 200)
        }
    }

    @Test func withATokenEveryRequestNeedsIt() async throws {
        let token = "correct-horse-battery-staple"
        try await Self.withConsole(token: token) { base, _, _ in
            let login = try await Self.session(base + "/login")
            for path in ["/", "/jobs", "/events", "/files/1/image/0", "/console.js"] {
                #expect(try await Self.send(base + path).status == 401, "\(path)")
            }
            let browser = try await Self.send(base + "/jobs?tag=a", headers: ["accept": "text/html"])
            #expect(browser.status == 303 && browser.headers["location"].first == "/login?next=%2Fjobs%3Ftag%3Da")
            #expect(try await Self.send(base + "/jobs", headers: ["authorization": "Bearer \(token)"]).status == 200)
            #expect(try await Self.send(base + "/jobs", headers: ["authorization": "Bearer \(token)x"]).status == 401)
            let wrong = try await Self.post(base + "/login", ["token": "guess"], as: login)
            #expect(wrong.status == 401 && wrong.cookies[ConsoleSecurity.signInCookie] == nil)
            let right = try await Self.post(base + "/login", ["token": token, "next": "//evil.example/"], as: login)
            #expect(right.status == 303 && right.headers["location"].first == "/", "never off to another site")
            let cookie = try #require(right.cookies[ConsoleSecurity.signInCookie])
            #expect(!cookie.contains(token))
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": "\(ConsoleSecurity.signInCookie)=\(cookie)"]).status == 200)
        }
    }

    /// Files are found by job, kind and index; the path in the row must lie in that job's
    /// folder of the outputs directory, links resolved; only image and video types are served
    /// as themselves.
    @Test func onlyFilesInTheJobsFolderAreServed() async throws {
        guard let sqlite3 = Subprocess.sqlite3 else {
            print("skipped: no sqlite3 shell")
            return
        }
        try await Self.withConsole { base, store, dir in
            _ = try store.enqueue([NewJob(prompt: "one"), NewJob(prompt: "two")])
            let folder = dir.file("outputs/1")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("outputs/2"), withIntermediateDirectories: true)
            try Data([0x89, 0x50, 0x4E, 0x47]).write(to: URL(fileURLWithPath: folder + "/0.png"))
            try Data("<script>alert(1)</script>".utf8).write(to: URL(fileURLWithPath: folder + "/1.png"))
            try Data("other job".utf8).write(to: URL(fileURLWithPath: dir.file("outputs/2/0.png")))
            try FileManager.default.createSymbolicLink(atPath: folder + "/2.png", withDestinationPath: "/etc/passwd")
            let rows = [
                (0, folder + "/0.png", "image/png"), (1, folder + "/1.png", "text/html"), (2, folder + "/2.png", "image/png"),
                (3, "/etc/passwd", "image/png"), (4, dir.file("outputs/2/0.png"), "image/png"), (5, folder + "/../2/0.png", "image/png"),
            ]
            let sql = rows.map { index, path, type in
                "INSERT INTO job_outputs (job_id, kind, idx, download_state, path, content_type) VALUES (1, 'image', \(index), 'done', '\(path)', '\(type)');"
            }.joined(separator: "\n")
            let inserted = try Subprocess.run(sqlite3, [store.path], input: sql)
            #expect(inserted.status == 0, "\(inserted.stderr)")
            let image = try await Self.send(base + "/files/1/image/0")
            #expect(image.status == 200 && image.headers["content-type"].first == "image/png" && image.bytes == [0x89, 0x50, 0x4E, 0x47])
            let html = try await Self.send(base + "/files/1/image/1")
            #expect(html.status == 200 && html.headers["content-type"].first == "application/octet-stream")
            #expect(html.headers["content-disposition"].first == "attachment" && html.headers["content-security-policy"].first == "sandbox")
            for index in 2...5 {
                let refused = try await Self.send(base + "/files/1/image/\(index)")
                #expect(refused.status == 404 && !refused.body.contains("root:"), "image \(index): \(refused.body)")
            }
            #expect(try await Self.send(base + "/files/1/image/9").status == 404)
            #expect(try await Self.send(base + "/files/1/text/0").status == 404)
        }
    }

    /// Saves `files` as job 1's outputs (index, kind, name, type) and records them as the
    /// downloader does, with the `sqlite3` shell.
    static func save(_ files: [(Int, String, String, String, [UInt8])], store: QueueStore, dir: TemporaryDirectory) throws -> Bool {
        guard let sqlite3 = Subprocess.sqlite3 else {
            print("skipped: no sqlite3 shell")
            return false
        }
        _ = try store.enqueue([NewJob(prompt: "one")])
        let folder = dir.file("outputs/1")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var sql = ""
        for (index, kind, name, type, bytes) in files {
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
            sql +=
                "INSERT INTO job_outputs (job_id, kind, idx, download_state, path, content_type) VALUES (1, '\(kind)', \(index), 'done', '\(folder)/\(name)', '\(type)');\n"
        }
        let inserted = try Subprocess.run(sqlite3, [store.path], input: sql)
        #expect(inserted.status == 0, "\(inserted.stderr)")
        return true
    }

    /// A video plays and seeks: parts by `Range`, 416 past the end, 304 for the version held.
    @Test func aVideoIsServedInParts() async throws {
        try await Self.withConsole { base, store, dir in
            let bytes = (0..<1_000).map { UInt8($0 % 251) }
            guard try Self.save([(0, "video", "0.mp4", "video/mp4", bytes)], store: store, dir: dir) else { return }
            let url = base + "/files/1/video/0"
            let whole = try await Self.send(url)
            #expect(whole.status == 200 && whole.bytes == bytes && whole.headers["accept-ranges"].first == "bytes")
            let tag = try #require(whole.headers["etag"].first)
            let head = try await Self.send(url, headers: ["range": "bytes=0-99"])
            #expect(head.status == 206 && head.bytes == Array(bytes[0..<100]) && head.headers["content-range"].first == "bytes 0-99/1000")
            let tail = try await Self.send(url, headers: ["range": "bytes=-10"])
            #expect(tail.status == 206 && tail.bytes == Array(bytes[990...]) && tail.headers["content-range"].first == "bytes 990-999/1000")
            let past = try await Self.send(url, headers: ["range": "bytes=1000-"])
            #expect(past.status == 416 && past.headers["content-range"].first == "bytes */1000")
            let held = try await Self.send(url, headers: ["if-none-match": tag])
            // RFC 9110 §8.6: a 304 carries no Content-Length, or the 200's (never 0).
            #expect(held.status == 304 && held.headers["content-length"].allSatisfy { $0 == "1000" }, "\(held.headers)")
            let huge = try await Self.send(url, headers: ["range": "bytes=0-9223372036854775807"])
            #expect(huge.status == 206 && huge.bytes == bytes, "a range to Int64.max is the whole file, no overflow")
            let changed = try await Self.send(url, headers: ["range": "bytes=0-9", "if-range": "\"another\""])
            #expect(changed.status == 200 && changed.bytes == bytes, "a part of another version is the whole file")
            #expect(try await Self.send(url, headers: ["range": "bytes=0-9", "if-range": tag]).status == 206)
        }
    }

    /// A tile shows a WebP thumbnail of a large image, and the file itself where there can be
    /// none; the image page links the whole file.
    @Test func tilesShowThumbnails() async throws {
        try await Self.withConsole { base, store, dir in
            let large = SimulatorImage.png(job: "a", file: "0.png", width: 1_536, height: 1_024)
            let small = SimulatorImage.png(job: "b", file: "1.png")
            let files = [
                (0, "image", "0.png", "image/png", large), (1, "image", "1.png", "image/png", small),
                (2, "image", "2.png", "text/html", Array("<script>alert(1)</script>".utf8)),
                (3, "image", "3.png", "image/png", Array("not a png".utf8)),
            ]
            guard try Self.save(files, store: store, dir: dir) else { return }
            let thumb = try await Self.send(base + "/thumbs/1/image/0")
            #expect(thumb.status == 200 && thumb.headers["content-type"].first == "image/webp")
            let picture = try Thumbnail.decode(thumb.bytes)
            #expect(picture.width == 384 && picture.height == 256 && thumb.bytes.count < large.count / 20)
            let tag = try #require(thumb.headers["etag"].first)
            let held = try await Self.send(base + "/thumbs/1/image/0", headers: ["if-none-match": tag])
            #expect(held.status == 304 && held.headers["content-length"].allSatisfy { $0 != "0" }, "\(held.headers)")
            #expect(try await Self.send(base + "/thumbs/1/image/1").bytes == small, "a small image is its own thumbnail")
            let html = try await Self.send(base + "/thumbs/1/image/2")
            #expect(html.headers["content-disposition"].first == "attachment" && html.headers["content-type"].first == "application/octet-stream")
            let broken = try await Self.send(base + "/thumbs/1/image/3")
            #expect(broken.status == 200 && broken.body == "not a png", "what cannot be decoded is served as it is")
            #expect(try await Self.send(base + "/thumbs/1/image/9").status == 404)
            let gallery = try await Self.send(base + "/gallery")
            #expect(gallery.body.contains(#"src="/thumbs/1/image/0""#))
            let page = try await Self.send(base + "/jobs/1/outputs/image/0")
            #expect(page.body.contains(#"src="/files/1/image/0""#))
        }
    }

    /// The file read is the one checked: rewritten in place (same inode), replaced, or turned
    /// into a link since, it is not read.
    @Test func aFileChangedAfterItsCheckIsNotRead() throws {
        let dir = try TemporaryDirectory("console-files")
        defer { dir.remove() }
        let folder = dir.file("outputs/1")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/0.png"
        try Data("first".utf8).write(to: URL(fileURLWithPath: path))
        let checked = try #require(ConsoleServer.contained(path, in: dir.file("outputs"), job: 1))
        #expect(try ConsoleServer.contents(of: checked) == Array("first".utf8))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data("second, longer".utf8))
        try handle.close()
        #expect(throws: ConsoleServer.ReplacedFile.self) { try ConsoleServer.contents(of: checked) }
        let again = try #require(ConsoleServer.contained(path, in: dir.file("outputs"), job: 1))
        try Data("elsewhere".utf8).write(to: URL(fileURLWithPath: dir.file("other.png")))
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: dir.file("other.png"))
        #expect(throws: ConsoleServer.ReplacedFile.self) { try ConsoleServer.contents(of: again) }
        #expect(ConsoleServer.contained(path, in: dir.file("outputs"), job: 1) == nil, "a link out of the job's folder")
        var old = stat()
        old.st_mode = S_IFREG
        old.st_mtim.tv_sec = -86_400
        #expect(!ConsoleServer.SavedFile(path: path, status: old).tag.isEmpty, "a file dated before 1970 has a tag too")
    }

    /// Sign-in holds a week, can be ended, and wrong tokens close the form for a while (the
    /// right one too, so guessing teaches nothing); wrong Bearer tokens count the same.
    @Test func signInRunsOutEndsAndIsThrottled() async throws {
        let token = "correct-horse-battery-staple"
        let clock = Box(Date(timeIntervalSince1970: 1_800_000_000))
        try await Self.withConsole(token: token, now: { clock.withLock { $0 } }) { base, _, _ in
            let login = try await Self.session(base + "/login")
            let bare = try await Self.send(base + "/login", method: .POST, form: ["token": token])
            #expect(bare.status == 403, "a sign-in without the sign-in page's form token (another site's page, a script)")
            let right = try await Self.post(base + "/login", ["token": token], as: login)
            let cookie = "\(ConsoleSecurity.signInCookie)=\(try #require(right.cookies[ConsoleSecurity.signInCookie]))"
            clock.withLock { $0 += 6 * 86_400 }
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": cookie]).status == 200)
            let session = try await Self.session(base + "/jobs", headers: ["cookie": cookie])
            let both = Session(cookie: session.cookie + "; " + cookie, csrf: session.csrf)
            let out = try await Self.post(base + "/logout", as: both)
            #expect(out.status == 303 && out.headers["location"].first == "/login")
            #expect(
                out.headers["set-cookie"].contains { $0.hasPrefix("\(ConsoleSecurity.signInCookie)=;") && $0.contains("Max-Age=0") },
                "\(out.headers)"
            )
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": cookie]).status == 401, "a copy of a signed-out cookie is refused")
            let signedOutCookie = try #require(cookie.split(separator: "=", maxSplits: 1).last.map(String.init))
            for respelt in ["0" + signedOutCookie, "+" + signedOutCookie, signedOutCookie.uppercased()] {
                let status = try await Self.send(base + "/jobs", headers: ["cookie": "\(ConsoleSecurity.signInCookie)=\(respelt)"]).status
                #expect(status == 401, "a signed-out cookie spelt otherwise: \(respelt)")
            }
            let again = try await Self.post(base + "/login", ["token": token], as: login)
            let fresh = "\(ConsoleSecurity.signInCookie)=\(try #require(again.cookies[ConsoleSecurity.signInCookie]))"
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": fresh]).status == 200)
            clock.withLock { $0 += 7 * 86_400 + 1 }
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": fresh]).status == 401, "a week later the cookie is spent")
            let forged = "\(ConsoleSecurity.signInCookie)=99999999999.\(String(repeating: "0", count: 64))"
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": forged]).status == 401)

            let current = try await Self.post(base + "/login", ["token": token], as: login)
            let signedIn = "\(ConsoleSecurity.signInCookie)=\(try #require(current.cookies[ConsoleSecurity.signInCookie]))"
            let foreign = try await Self.post(base + "/login", ["token": "guess"], as: login, headers: ["origin": "http://evil.example"])
            #expect(foreign.status == 403, "another site's page may not try tokens (nor spend this address's tries)")

            // Twenty guesses at once, by form and by header: five are tried, the rest refused.
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        n % 2 == 0
                            ? try await Self.post(base + "/login", ["token": "guess \(n)"], as: login).status
                            : try await Self.send(base + "/jobs", headers: ["authorization": "Bearer guess \(n)"]).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 401 }.count == 5 && statuses.filter { $0 == 429 }.count == 15, "\(statuses.sorted())")
            let closed = try await Self.post(base + "/login", ["token": token], as: login)
            #expect(closed.status == 429 && closed.headers["retry-after"].first == "12" && closed.cookies[ConsoleSecurity.signInCookie] == nil)
            #expect(closed.body.contains("Too many wrong tokens"))
            let bearer = try await Self.send(base + "/jobs", headers: ["authorization": "Bearer \(token)"])
            #expect(bearer.status == 429 && bearer.headers["retry-after"].first == "12", "the right token too, while closed")
            #expect(try await Self.send(base + "/jobs", headers: ["cookie": signedIn]).status == 200, "a signed-in browser is not held up")
            clock.withLock { $0 += 12 }
            #expect(try await Self.post(base + "/login", ["token": token], as: login).status == 303, "one try back after 12 s")
            #expect(try await Self.send(base + "/jobs", headers: ["authorization": "Bearer \(token)"]).status == 200, "and a right one gives it back")
        }
    }

    /// `/events` says `change` when any process writes the database.
    @Test func eventsFollowWritesOfAnyProcess() async throws {
        guard let sqlite3 = Subprocess.sqlite3 else {
            print("skipped: no sqlite3 shell")
            return
        }
        try await Self.withConsole { base, store, _ in
            let received = Box("")
            let reader = Task {
                var request = HTTPClientRequest(url: base + "/events")
                request.method = .GET
                let response = try await Self.client.execute(request, timeout: .seconds(60))
                for try await chunk in response.body {
                    received.withLock { $0 += String(buffer: chunk) }
                    if received.withLock({ $0.contains("event: change") }) { break }
                }
            }
            defer { reader.cancel() }
            #expect(await eventuallyAsync(timeout: 10) { received.withLock { $0.contains("retry:") } })
            let insert = try Subprocess.run(sqlite3, [store.path], input: "INSERT INTO jobs (prompt) VALUES ('from the shell');")
            #expect(insert.status == 0)
            #expect(await eventuallyAsync(timeout: 20) { received.withLock { $0.contains("event: change") } }, "\(received.withLock { $0 })")
        }
    }
}
