import Hummingbird

/// `GET /events`: Server-Sent Events, one `change` per change to the queue (at most one a
/// second per page), a comment every 15 s so proxies keep the stream open.
extension ConsoleServer {
    func events() -> Response {
        let feed = self.feed
        // The version as the request arrives: a change while the first bytes are written is sent.
        let opened = feed.version
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                var seen = opened
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                while !Task.isCancelled, !feed.isClosed {
                    if let version = await feed.next(after: seen, timeout: .seconds(15)) {
                        seen = version
                        try await writer.write(ByteBuffer(string: "event: change\ndata: \(version)\n\n"))
                        try? await Task.sleep(for: .seconds(1))
                    } else if !feed.isClosed {
                        try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    }
                }
                try await writer.finish(nil)
            }
        )
    }
}
