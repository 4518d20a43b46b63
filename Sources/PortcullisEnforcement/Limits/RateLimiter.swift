public import Foundation
public import PortcullisCore
import Synchronization

/// A rate: `perMinute` calls on average, at most `burst` at once.
public struct RateLimit: Sendable, Codable, Equatable {
    public var perMinute: Double
    public var burst: Double

    public init(perMinute: Double, burst: Double) {
        self.perMinute = perMinute
        self.burst = burst
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case perMinute, burst }

    /// Strict reading: a misspelt key is an error, not a silently default limit.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "rate limit")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        perMinute = try c.decode(Double.self, forKey: .perMinute)
        burst = try c.decode(Double.self, forKey: .burst)
    }
}

extension RateLimiter: RateBudget {
    public func take(_ key: String, perMinute: Double, burst: Double, now: Date) -> (allowed: Bool, retryAfter: TimeInterval) {
        take(key, limit: RateLimit(perMinute: perMinute, burst: burst), now: now)
    }
}

/// Token buckets per agent and tool, in this process.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    public init() {}

    /// Takes one token from the bucket of `key`; false when empty. Also returns when the next token is due.
    public func take(_ key: String, limit: RateLimit, now: Date) -> (allowed: Bool, retryAfter: TimeInterval) {
        buckets.withLock { table in
            var b = table[key] ?? Bucket(tokens: limit.burst, updated: now)
            let rate = limit.perMinute / 60
            b.tokens = min(limit.burst, b.tokens + max(0, now.timeIntervalSince(b.updated)) * rate)
            b.updated = now
            if table.count > 100_000 {
                // Drop buckets that have refilled completely: forgetting them changes nothing.
                table = table.filter { _, bucket in bucket.tokens + now.timeIntervalSince(bucket.updated) * rate < limit.burst }
            }
            if b.tokens >= 1 {
                b.tokens -= 1
                table[key] = b
                return (true, 0)
            }
            table[key] = b
            return (false, rate > 0 ? (1 - b.tokens) / rate : .infinity)
        }
    }
}
