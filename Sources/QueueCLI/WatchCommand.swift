import ArgumentParser
import Foundation
import QueueStore
import QueueSupport
import UnixSignals

/// `legnext-queue watch`: the queue moving, live. On a terminal it redraws in place; piped
/// into a file or another program it prints a plain line whenever something changed.
public struct WatchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch the queue drain: counts, progress, rate, ETA and pause reason. Ctrl-C to leave."
    )

    @ParentCommand var root: LegnextQueueCommand
    var global: GlobalOptions { root.global }
    @Option(help: "Seconds between updates.") var interval = 1.0

    public init() {}

    public func validate() throws {
        guard interval >= 0.05, interval.isFinite else { throw ValidationError("--interval must be at least 0.05 seconds") }
    }

    public func run() async throws {
        try await reportingErrors {
            let store = try global.openExisting()
            let terminal = isatty(STDOUT_FILENO) == 1
            let interval = self.interval
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.loop(store, interval: interval, terminal: terminal) }
                group.addTask {
                    for await _ in signals { break }
                }
                // Whichever ends first (a signal, or the loop on a broken pipe) ends the other.
                await group.next()
                group.cancelAll()
            }
            if terminal { Self.write("\u{1B}[?25h\n") }  // the cursor back, below the view
        }
    }

    private static func loop(_ store: QueueStore, interval: Double, terminal: Bool) async {
        var view = WatchView()
        var drawn = 0
        var lastPlain = ""
        if terminal { write("\u{1B}[?25l") }  // hide the cursor while redrawing
        while !Task.isCancelled {
            let lines: [String]
            do {
                lines = view.render(try store.status(), width: terminalWidth())
            } catch {
                lines = ["cannot read the queue: \(error)"]
            }
            if terminal {
                // Up to the top of the last drawing, then each line cleared and rewritten.
                var text = drawn > 0 ? "\u{1B}[\(drawn)F" : ""
                for line in lines { text += "\u{1B}[2K" + line + "\n" }
                if drawn > lines.count { text += String(repeating: "\u{1B}[2K\n", count: drawn - lines.count) + "\u{1B}[\(drawn - lines.count)F" }
                write(text)
                drawn = lines.count
            } else {
                // A line when something changed, not when only the measured pace moved.
                let substance = WatchView.withoutPace(lines).joined(separator: " | ")
                if substance != lastPlain {
                    write(Timestamp.format(Date()) + " " + lines.joined(separator: " | ") + "\n")
                    lastPlain = substance
                }
            }
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    private static func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
