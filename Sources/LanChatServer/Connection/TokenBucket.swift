import NIOCore

/// A token bucket: `rate` tokens per second, holding at most `burst`.
struct TokenBucket {
    private let rate: Double
    private let burst: Double
    private var tokens: Double
    private var last: NIODeadline

    init(rate: Int, burst: Int, now: NIODeadline = .now()) {
        self.rate = Double(rate)
        self.burst = Double(burst)
        tokens = Double(burst)
        last = now
    }

    /// Takes one token; false when the bucket is empty.
    mutating func take(now: NIODeadline) -> Bool {
        let elapsed = Double((now - last).nanoseconds) / 1e9
        last = now
        tokens = min(burst, tokens + elapsed * rate)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
