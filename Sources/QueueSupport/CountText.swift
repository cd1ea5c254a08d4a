/// A count as people read it: 1,234,567 (the console, `list`, `enqueue --dry-run`).
public func countText(_ n: Int) -> String {
    let digits = Array(String(n.magnitude))
    let grouped = String(digits.enumerated().flatMap { index, digit in index > 0 && (digits.count - index) % 3 == 0 ? [",", digit] : [digit] })
    return n < 0 ? "-" + grouped : grouped
}
