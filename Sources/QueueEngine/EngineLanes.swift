import Synchronization

/// The engines of one ``EnginePool``: what one account asks of the others.
final class EngineLanes: Sendable {
    let engines = Mutex<[QueueEngine]>([])

    /// Whether another account would start the next job sooner, and so takes it first: one with
    /// a free slot of its plan before one whose next job would wait in Legnext's queue (its
    /// lead); among those alike, the higher priority. One whose last claim found nothing cannot
    /// take what is left (pinned to others), and outranks nobody.
    func outranked(_ engine: QueueEngine) -> Bool {
        guard let mine = engine.nextStart else { return false }
        let priority = engine.configuration.priority
        return engines.withLock { $0 }.contains { other in
            guard other !== engine, let theirs = other.nextStart else { return false }
            return theirs < mine || theirs == mine && other.configuration.priority > priority
        }
    }

    /// An account paused, resumed or freed room: the others look again.
    func changed() {
        for engine in engines.withLock({ $0 }) { engine.workSignal.signal() }
    }
}
