import Foundation

/// A small seeded generator (SplitMix64): the simulator's runs repeat for a seed, and so do
/// the benchmark's kill moments.
public struct SimulatorRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// True with probability `p`; draws nothing when `p` is 0, so enabling one knob does not
    /// change the draws of the others.
    mutating func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        return unit() < p
    }

    /// Log-normal with the given median and sigma.
    public mutating func logNormal(median: Double, sigma: Double) -> Double {
        guard sigma > 0 else { return median }
        let u1 = max(unit(), 1e-12)
        let u2 = unit()
        let z = (-2 * Foundation.log(u1)).squareRoot() * cos(2 * .pi * u2)
        return median * exp(sigma * z)
    }
}
