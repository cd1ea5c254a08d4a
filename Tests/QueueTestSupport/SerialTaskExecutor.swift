import Foundation
import Synchronization

/// One thread that runs the jobs given to it one at a time, in the order they came. With the
/// engine and the test driving it both on it, no engine code runs while the driver looks, so
/// "nothing is queued and nothing happened" means the engine is idle: on the global pool an
/// engine task preempted on the other core looked idle too (seen once in CI).
public final class SerialTaskExecutor: TaskExecutor, Sendable {
    private let queue = Mutex<(jobs: [UnownedJob], closed: Bool)>(([], false))
    private let ready = DispatchSemaphore(value: 0)

    public init(name: String) {
        let thread = Thread { [self] in drain() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.withLock { $0.jobs.append(job) }
        ready.signal()
    }

    /// Jobs waiting to run (not counting the one running now).
    public var pending: Int { queue.withLock { $0.jobs.count } }

    /// From a task on this executor: returns once every other task here has run as far as it
    /// can (nothing queued through rounds of yields), so a test can look at what they did.
    public func runUntilIdle() async {
        var quiet = 0
        while quiet < 3 {
            await Task.yield()
            quiet = pending == 0 ? quiet + 1 : 0
        }
    }

    /// Ends the thread once the jobs queued before this call have run.
    public func shutdown() {
        queue.withLock { $0.closed = true }
        ready.signal()
    }

    private func drain() {
        while true {
            ready.wait()
            let (job, closed) = queue.withLock { queue -> (UnownedJob?, Bool) in
                queue.jobs.isEmpty ? (nil, queue.closed) : (queue.jobs.removeFirst(), false)
            }
            if let job {
                job.runSynchronously(on: asUnownedTaskExecutor())
            } else if closed {
                return
            }
        }
    }
}
