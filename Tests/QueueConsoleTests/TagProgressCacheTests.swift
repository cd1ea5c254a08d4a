import Foundation
import QueueStore
import QueueTestSupport
import Testing

@testable import QueueConsole

/// Tag bars are recounted at most every 3 s of the console's clock, and a failed count is not kept.
@Suite struct TagProgressCacheTests {
    @Test func countsAreKeptForThreeSeconds() throws {
        let clock = Box(Date(timeIntervalSince1970: 1_800_000_000))
        let cache = TagProgressCache(now: { clock.withLock { $0 } })
        var counted = 0
        func count() -> [TagProgress] {
            counted += 1
            return []
        }
        _ = try cache.progress(count)
        clock.withLock { $0 += 2.9 }
        _ = try cache.progress(count)
        #expect(counted == 1)
        clock.withLock { $0 += 0.2 }
        _ = try cache.progress(count)
        #expect(counted == 2)
        struct Locked: Error {}
        clock.withLock { $0 += 10 }
        #expect(throws: Locked.self) { try cache.progress { throw Locked() } }
        _ = try cache.progress(count)
        #expect(counted == 3, "a count that failed is not an answer")
    }
}
