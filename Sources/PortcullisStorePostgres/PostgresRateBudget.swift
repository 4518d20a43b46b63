public import Foundation
public import PortcullisCore
import PostgresNIO
import Synchronization

/// Rate limits that hold across replicas: one token bucket per key in PostgreSQL, from which each replica leases
/// a few tokens at a time (docs/scale-out.md).
///
/// A replica whose lease is empty takes up to `leaseSize` tokens from the shared bucket in one transaction (the
/// row locked, so replicas take turns), spends one and keeps the rest for the next calls with that key. Tokens
/// leave the shared bucket before anyone spends them, so the deployment never admits more than one bucket allows:
/// **no overshoot**. The cost is undershoot: tokens a replica leased and did not spend (at most `leaseSize − 1`
/// per replica and key, dropped after `leaseLifetime`) are lost to the others. Refill uses the calling replica's
/// clock and never runs backwards (a replica whose clock is behind adds nothing).
///
/// When PostgreSQL cannot be reached the call is refused (the caller turns the throw into a refusal).
public final class PostgresRateBudget: RateBudget {
    let store: PostgresStore
    let leaseLifetime: TimeInterval
    private let leases = Mutex<[String: Lease]>([:])
    private let refills = Mutex<[String: Task<Refill, any Error>]>([:])

    struct Lease {
        var tokens: Int
        var until: Date
    }

    public init(store: PostgresStore, leaseLifetime: TimeInterval = 10) {
        self.store = store
        self.leaseLifetime = leaseLifetime
    }

    /// How many tokens one trip to PostgreSQL takes: a tenth of the burst, 1 to 20.
    static func leaseSize(burst: Double) -> Int { max(1, min(20, Int(burst / 10))) }

    public func take(_ key: String, perMinute: Double, burst: Double, now: Date) async throws
        -> (allowed: Bool, retryAfter: TimeInterval)
    {
        while true {
            let leased = leases.withLock { table -> Bool in
                guard var lease = table[key], lease.until > now, lease.tokens > 0 else { return false }
                lease.tokens -= 1
                table[key] = lease
                return true
            }
            if leased { return (true, 0) }
            // One trip per key at a time: callers arriving meanwhile wait for its tokens instead of each leasing
            // their own (which would strand tokens in the lease and starve the other replicas).
            let trip = refills.withLock { table -> Task<Refill, any Error> in
                if let running = table[key] { return running }
                let task = Task { [self] in
                    defer { _ = refills.withLock { $0.removeValue(forKey: key) } }
                    return try await refill(key, perMinute: perMinute, burst: burst, now: now)
                }
                table[key] = task
                return task
            }
            let result = try await trip.value
            if result.granted == 0 {
                let rate = perMinute / 60
                return (false, rate > 0 ? (1 - result.available) / rate : .infinity)
            }
        }
    }

    struct Refill: Sendable {
        var granted: Int
        var available: Double
    }

    /// Takes up to a lease of tokens from the shared bucket (row locked) and adds them to this replica's lease.
    private func refill(_ key: String, perMinute: Double, burst: Double, now: Date) async throws -> Refill {
        let want = Self.leaseSize(burst: burst), rate = perMinute / 60
        let t = now.timeIntervalSince1970
        let logger = store.logger
        let refill = try await store.transaction("take from the shared rate limit") { c in
            _ = try await c.rows("""
                INSERT INTO rate_buckets (key, tokens, updated) VALUES (\(key), \(burst), \(t)) ON CONFLICT (key) DO NOTHING
                """, logger: logger)
            guard let row = try await c.rows("SELECT tokens, updated FROM rate_buckets WHERE key = \(key) FOR UPDATE",
                                             logger: logger).first else {
                throw PortcullisError(.storage, "the rate-limit bucket vanished")
            }
            let (tokens, updated) = try row.decode((Double, Double).self)
            let available = min(burst, tokens + max(0, t - updated) * rate)
            let granted = min(want, Int(available.rounded(.down)))
            _ = try await c.rows("""
                UPDATE rate_buckets SET tokens = \(available - Double(granted)), updated = \(max(updated, t)) WHERE key = \(key)
                """, logger: logger)
            return Refill(granted: granted, available: available)
        }
        if refill.granted > 0 {
            leases.withLock { table in
                if table.count > 100_000 { table = table.filter { $0.value.until > now } }
                let kept = table[key].map { $0.until > now ? $0.tokens : 0 } ?? 0
                table[key] = Lease(tokens: kept + refill.granted, until: now.addingTimeInterval(leaseLifetime))
            }
        }
        return refill
    }
}
