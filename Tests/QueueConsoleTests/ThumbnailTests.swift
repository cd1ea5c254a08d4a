import QueueTestSupport
import Testing

@testable import LegnextSimulator
@testable import QueueConsole

/// Thumbnails are real images of the right size and colour, and every image that cannot
/// have one says why (it is then shown whole).
@Suite struct ThumbnailTests {
    static func mean(_ image: Thumbnail.Pixels) -> [Double] {
        var sums = [0.0, 0.0, 0.0]
        for p in stride(from: 0, to: image.rgba.count, by: 4) {
            for c in 0..<3 { sums[c] += Double(image.rgba[p + c]) }
        }
        return sums.map { $0 / Double(image.width * image.height) }
    }

    @Test func aLargePNGBecomesASmallWebPOfTheSamePicture() throws {
        let png = SimulatorImage.png(job: "job-1", file: "0.png", width: 1_200, height: 800)
        let source = try Thumbnail.decode(png)
        #expect(source.width == 1_200 && source.height == 800)
        let webp = try Thumbnail.make(from: png)
        #expect(webp.starts(with: Array("RIFF".utf8)) && webp.count < png.count / 20, "\(webp.count) bytes from \(png.count)")
        let thumbnail = try Thumbnail.decode(webp)
        #expect(thumbnail.width == 384 && thumbnail.height == 256)
        for (a, b) in zip(Self.mean(source), Self.mean(thumbnail)) {
            #expect(abs(a - b) < 4, "mean colour \(Self.mean(source)) vs \(Self.mean(thumbnail))")
        }
        let tall = try Thumbnail.decode(try Thumbnail.make(from: SimulatorImage.png(job: "j", file: "f", width: 300, height: 900)))
        #expect(tall.width == 128 && tall.height == 384)
    }

    @Test func whatGetsNoThumbnailSaysWhy() {
        #expect(throws: Thumbnail.Refusal.small) { try Thumbnail.make(from: SimulatorImage.png(job: "j", file: "f")) }
        #expect(throws: Thumbnail.Refusal.notAnImage) { try Thumbnail.make(from: Array("<script>alert(1)</script>".utf8)) }
        let png = SimulatorImage.png(job: "j", file: "f", width: 1_000, height: 600)
        #expect(throws: Thumbnail.Refusal.tooLarge(width: 1_000, height: 600)) { try Thumbnail.make(from: png, maxPixels: 500_000) }
        do {
            _ = try Thumbnail.make(from: Array(png.prefix(png.count / 2)))
            Issue.record("half a PNG decoded")
        } catch {
            if case .broken(let why) = error { #expect(!why.isEmpty) } else { Issue.record("\(error)") }
        }
    }

    /// Transparent pixels do not darken the colour of their neighbours.
    @Test func shrinkingWeighsColourByAlpha() {
        // Each 2×1 pair: one opaque red pixel, one transparent black one.
        var rgba: [UInt8] = []
        for _ in 0..<4 { rgba += [255, 0, 0, 255, 0, 0, 0, 0] }
        let shrunk = Thumbnail.shrink(.init(width: 8, height: 1, rgba: rgba), toWidth: 4, height: 1)
        #expect(shrunk.rgba == Array([[UInt8]](repeating: [255, 0, 0, 128], count: 4).joined()))
    }

    @Test func theCacheMakesEachOnceAndKeepsTheNewest() async throws {
        let cache = ThumbnailCache(limit: 3 * (100 + 64))
        let made = Box(0)
        func make(_ byte: UInt8) -> @Sendable () async throws -> ThumbnailCache.Outcome {
            {
                made.withLock { $0 += 1 }
                return .success([UInt8](repeating: byte, count: 100))
            }
        }
        // Two requests for one picture while it is being made: one make.
        let opened = Box(false)
        let slow: @Sendable () async throws -> ThumbnailCache.Outcome = {
            made.withLock { $0 += 1 }
            // Bounded: a regression fails the test instead of hanging it.
            for _ in 0..<1_000_000 {
                if opened.withLock({ $0 }) { break }
                await Task.yield()
            }
            return .success([UInt8](repeating: 1, count: 100))
        }
        let a = Task { try await cache.thumbnail("a", make: slow) }
        let b = Task { try await cache.thumbnail("a", make: slow) }
        for _ in 0..<1_000_000 {
            if await cache.waiters("a") >= 2 { break }
            await Task.yield()
        }
        #expect(await cache.waiters("a") == 2, "both requests wait for the one make")
        opened.withLock { $0 = true }
        let both = [try await a.value, try await b.value]
        #expect(made.withLock { $0 } == 1, "one make for both")
        #expect(both.allSatisfy { (try? $0.get()) == [UInt8](repeating: 1, count: 100) })
        for key in ["b", "c", "d"] { _ = try await cache.thumbnail(key, make: make(2)) }
        #expect(await cache.count == 3, "the oldest was dropped to stay under the limit")
        let before = made.withLock { $0 }
        _ = try await cache.thumbnail("d", make: make(3))
        #expect(made.withLock { $0 } == before, "a kept one is not made again")
        _ = try await cache.thumbnail("a", make: make(1))
        #expect(made.withLock { $0 } == before + 1, "a dropped one is")
        struct Unreadable: Error {}
        await #expect(throws: Unreadable.self) { try await cache.thumbnail("e") { throw Unreadable() } }
        _ = try await cache.thumbnail("e", make: make(4))
        #expect(made.withLock { $0 } == before + 2, "a failure to read is not kept")
    }
}

@Suite struct ByteRangeTests {
    @Test func rangesOfAThousandBytes() {
        let cases: [(String?, ByteRange)] = [
            (nil, .whole), ("bytes=0-99", .part(0..<100)), ("bytes=990-", .part(990..<1_000)), ("bytes=-100", .part(900..<1_000)),
            ("bytes=-5000", .part(0..<1_000)), ("bytes=500-99999", .part(500..<1_000)), ("bytes=0-99999999999999999999", .part(0..<1_000)),
            ("bytes=1000-", .unsatisfiable), ("bytes=-0", .unsatisfiable), ("bytes=99999999999999999999-", .unsatisfiable),
            ("bytes=0-9223372036854775807", .part(0..<1_000)), ("bytes=9223372036854775807-", .unsatisfiable),
            ("bytes=9223372036854775807-9223372036854775807", .unsatisfiable), ("bytes=-9223372036854775807", .part(0..<1_000)),
            ("bytes=5-2", .whole), ("bytes=0-1,5-9", .whole), ("bytes=-", .whole), ("bytes=a-b", .whole), ("items=0-9", .whole),
        ]
        for (header, expected) in cases {
            #expect(ByteRange.parse(header, size: 1_000) == expected, "\(header ?? "none")")
        }
        #expect(ByteRange.parse("bytes=0-", size: 0) == .unsatisfiable)
    }
}
