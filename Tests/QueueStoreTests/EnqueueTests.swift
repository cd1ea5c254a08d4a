import Foundation
import QueueStore
import QueueSupport
import QueueTestSupport
import Testing

@Suite struct EnqueueTests {
    @Test func idsComeBackInInputOrder() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let result = try fixture.store.enqueue((0..<1234).map { NewJob(prompt: "prompt \($0)", tag: "t\($0 % 3)") })
        #expect(result.ids.count == 1234)
        #expect(result.ids == result.ids.sorted())
        #expect(result.skippedKeys.isEmpty)
        let job = try #require(try fixture.store.job(result.ids[700]))
        #expect(job.prompt == "prompt 700")
        #expect(job.tag == "t1")
        // Every id names its own job: batches without keys (ids worked out from the last insert)
        // and one with a key (ids read back), after rows that were there already.
        var jobs = (0..<1234).map { NewJob(prompt: "again \($0)") }
        jobs[600].idempotencyKey = "k600"
        let again = try fixture.store.enqueue(jobs)
        #expect(again.ids.first == 1235)
        for (index, id) in again.ids.enumerated() where index % 97 == 0 || index == 600 || index == 1233 {
            #expect(try fixture.store.job(id)?.prompt == "again \(index)")
        }
    }

    @Test func aRepeatedIdempotencyKeyIsSkippedNotAnError() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let first = try fixture.store.enqueue([NewJob(prompt: "a", idempotencyKey: "k1"), NewJob(prompt: "b")])
        #expect(first.ids.count == 2)
        let second = try fixture.store.enqueue([
            NewJob(prompt: "a again", idempotencyKey: "k1"), NewJob(prompt: "c", idempotencyKey: "k2"),
            NewJob(prompt: "c again", idempotencyKey: "k2"), NewJob(prompt: "d"),
        ])
        #expect(second.skippedKeys == ["k1", "k2"])
        #expect(second.ids.count == 2)
        #expect(try fixture.store.job(second.ids[0])?.prompt == "c")
        #expect(try fixture.store.job(second.ids[1])?.prompt == "d")
        #expect(try fixture.store.status().counts[.queued] == 4)
    }

    @Test func aBatchIsAllOrNothingAndNamesTheBadJob() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        var jobs = (0..<1500).map { NewJob(prompt: "p\($0)") }
        jobs[1234] = NewJob(kind: "nonsense", prompt: "bad")
        #expect {
            try fixture.store.enqueue(jobs)
        } throws: { error in
            guard case .rejected(let index, let message) = error as? StoreError else { return false }
            return index == 1234 && message.contains("unknown kind")
        }
        #expect(try fixture.store.status().total == 0)
    }

    @Test func delayedJobsKeepTheirTimeInTheDatabaseForm() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let when = Date(timeIntervalSince1970: 1_800_000_000.25)
        let id = try fixture.store.enqueue([NewJob(prompt: "later", runAfter: when)]).ids[0]
        #expect(try fixture.store.job(id)?.runAfter.map { abs($0.timeIntervalSince(when)) < 1e-6 } == true)
    }

    @Test func timestampsRoundTrip() {
        let date = Date(timeIntervalSince1970: 1_795_000_000.123)
        #expect(Timestamp.format(date) == "2026-11-18T11:06:40.123Z")
        #expect(abs(Timestamp.parse("2026-11-18T11:06:40.123Z")!.timeIntervalSince(date)) < 1e-6)
        #expect(Timestamp.parse("2026-11-18 11:06:40") == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(Timestamp.parse("2026-11-18T12:06:40+01:00") == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(Timestamp.parse("2026-02-30") == nil)
        #expect(Timestamp.parse("tomorrow") == nil)
    }
}

@Suite(.enabled(if: hasShell, "needs the sqlite3 shell"), .serialized)
struct WriteLockTests {
    /// A `sqlite3` shell holds the write lock for ~2 s (the busy timeout is 5), writing a row at
    /// each end of its transaction: the enqueue, begun once the lock is held, waits instead of
    /// failing, and its row comes after both of the shell's.
    @Test func enqueueWaitsForAnotherProcessHoldingTheWriteLock() throws {
        let fixture = try StoreFixture()
        defer { fixture.dir.remove() }
        let shell = try RunningProcess(Subprocess.sqlite3!, [fixture.path])
        shell.write(
            "BEGIN IMMEDIATE;\nINSERT INTO jobs(prompt) VALUES ('from the shell');\n.shell echo locked\n.shell sleep 2\n"
                + "INSERT INTO jobs(prompt) VALUES ('from the shell, later');\nCOMMIT;\n"
        )
        shell.closeInput()
        #expect(eventually(timeout: 10) { shell.output.contains("locked") })
        let result = try fixture.store.enqueue([NewJob(prompt: "from the program")])
        #expect(result.ids == [3], "written after the shell's whole transaction")
        #expect(shell.wait().status == 0)
        #expect(try fixture.store.status().counts[.queued] == 3)
    }

    @Test func aLockHeldPastTheBusyTimeoutIsBusyNotACrash() throws {
        let fixture = try StoreFixture(busyTimeout: .milliseconds(300))
        defer { fixture.dir.remove() }
        let shell = try RunningProcess(Subprocess.sqlite3!, [fixture.path])
        // The lock is held until the shell is told to let go.
        shell.write("BEGIN IMMEDIATE;\nINSERT INTO jobs(prompt) VALUES ('holding');\n.shell echo locked\n")
        #expect(eventually(timeout: 10) { shell.output.contains("locked") })
        #expect {
            try fixture.store.enqueue([NewJob(prompt: "blocked")])
        } throws: { error in
            guard case .busy = error as? StoreError else { return false }
            return true
        }
        shell.write("ROLLBACK;\n")
        shell.closeInput()
        shell.wait()
        #expect(try fixture.store.enqueue([NewJob(prompt: "later")]).ids.count == 1)
    }
}
