public import Foundation

/// Where rate-limit buckets live: in this process (the enforcement pipeline's `RateLimiter`), or shared by every
/// replica (the PostgreSQL adapter leases tokens from one bucket per key; docs/scale-out.md).
public protocol RateBudget: Sendable {
    /// Takes one token from the bucket of `key` (`perMinute` on average, at most `burst` at once); false when
    /// empty, with when the next token is due.
    /// - Throws: when shared state cannot be reached; the caller refuses.
    func take(_ key: String, perMinute: Double, burst: Double, now: Date) async throws
        -> (allowed: Bool, retryAfter: TimeInterval)
}
