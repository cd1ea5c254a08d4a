import HeapModule

/// The makespan no dispatcher can beat for the very jobs a run drew: a clairvoyant one with no
/// lag, starting the jobs in the order they were created, each the instant a slot frees, at the
/// plan's concurrency. Unlike Σ lengths ÷ C it includes what the last wave's spread costs, so a
/// ratio to it of 1.00 is reachable.
enum ClairvoyantFloor {
    static func makespan(_ lengths: [Double], concurrency: Int) -> Double {
        var free = Heap<Double>()
        for _ in 0..<max(1, concurrency) { free.insert(0) }
        var makespan = 0.0
        for length in lengths {
            let end = free.removeMin() + length
            free.insert(end)
            makespan = max(makespan, end)
        }
        return makespan
    }
}
