import Synchronization

/// The engines of one ``EnginePool``: what one account asks of the others.
final class EngineLanes: Sendable {
    let engines = Mutex<[QueueEngine]>([])

    /// Whether another account of higher priority has room and may find the next job: it takes
    /// it first. One whose last claim found nothing cannot take what is left (pinned to others).
    func outranked(_ engine: QueueEngine) -> Bool {
        let priority = engine.configuration.priority
        return engines.withLock { $0 }.contains { other in
            other !== engine && other.configuration.priority > priority && other.wantsWork
        }
    }

    /// An account paused, resumed or freed room: the others look again.
    func changed() {
        for engine in engines.withLock({ $0 }) { engine.workSignal.signal() }
    }
}
