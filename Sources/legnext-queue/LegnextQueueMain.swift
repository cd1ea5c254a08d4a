import ArgumentParser
import QueueCLI

// The commands live in QueueCLI so tests can import them; this is only the entry point.
@main
enum Main {
    static func main() async {
        do {
            let parsed = try await LegnextQueueCommand.asyncParseAsRoot()
            guard var command = parsed as? any AsyncParsableCommand else {
                var command = parsed
                try command.run()
                return
            }
            try await command.run()
        } catch {
            LegnextQueueCommand.exit(withError: error)
        }
    }
}
