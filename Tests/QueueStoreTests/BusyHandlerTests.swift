import GRDB
import Testing

@testable import QueueStore

/// Waiting for another process's lock: short steps, and an end at the timeout.
@Suite struct BusyHandlerTests {
    @Test func stepsStayShortAndTheWaitEndsAtTheTimeout() {
        let handler = QueueStore.busyHandler(timeout: .milliseconds(150))
        // 1 ms steps for the first 100 ms (so the lock is taken within a millisecond or so of its
        // release), then 5 ms steps: 100 + 10 × 5 = 150 ms waited by the 110th try.
        #expect(handler(0))
        #expect(handler(99))
        #expect(handler(109))
        #expect(!handler(110), "gives up once the timeout has been waited")
        #expect(!QueueStore.busyHandler(timeout: .zero)(0), "no timeout: fail at once")
        let long = QueueStore.busyHandler(timeout: .seconds(5))
        #expect(long(299) && long(300), "1.1 s waited by the 300th try; 20 ms steps from there")
        #expect(!long(495), "1.1 s + 195 × 20 ms = 5 s")
    }
}
