import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Plain HTTP for tests (the simulator's own endpoints), on AsyncHTTPClient's shared client.
public enum URLSessionLite {
    public static func get(_ url: String) async throws -> (Data, Int) {
        try await send(url, method: .GET, body: nil)
    }

    public static func post(_ url: String, body: Data, headers: [String: String] = ["content-type": "application/json"]) async throws -> (Data, Int) {
        try await send(url, method: .POST, body: body, headers: headers)
    }

    public static func send(_ url: String, method: HTTPMethod, body: Data?, headers: [String: String] = [:]) async throws -> (Data, Int) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return (Data(buffer: buffer), Int(response.status.code))
    }
}
