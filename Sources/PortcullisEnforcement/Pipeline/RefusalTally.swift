public import Foundation
public import Logging
public import PortcullisCore
import Synchronization

/// Refusals that happen before any decision (a revoked token, a suspended or killed agent, a rate
/// limit, an unauthenticated token request), aggregated: one audit entry per kind and subject per
/// flush, with a count, so that a flood of refused requests leaves a trace without flooding the log.
public final class RefusalTally: Sendable {
    struct Key: Hashable {
        var action: String
        var subject: String
        var reason: String
    }

    struct Count {
        var count: Int
        var first: Date
        var last: Date
    }

    private let counts = Mutex<[Key: Count]>([:])
    let audit: any AuditSink
    let clock: @Sendable () -> Date
    let logger: Logger
    /// Distinct keys kept between flushes; beyond it refusals are counted under one overflow key.
    static let capacity = 10_000

    public init(audit: any AuditSink, clock: @escaping @Sendable () -> Date, logger: Logger) {
        self.audit = audit
        self.clock = clock
        self.logger = logger
    }

    /// Counts one refusal of `action` (e.g. `gateway.refused`, `token.refused`) for `subject`.
    public func note(action: String, subject: String, reason: String) {
        let now = clock()
        counts.withLock { table in
            var key = Key(action: action, subject: subject, reason: reason)
            if table[key] == nil, table.count >= Self.capacity {
                key = Key(action: action, subject: "*", reason: "refusals beyond \(Self.capacity) distinct subjects")
            }
            if var c = table[key] {
                c.count += 1
                c.last = now
                table[key] = c
            } else {
                table[key] = Count(count: 1, first: now, last: now)
            }
        }
    }

    /// How many refusals are waiting for the next flush.
    public var pending: Int { counts.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Writes one audit entry per aggregated refusal; what cannot be written is kept for the next flush.
    public func flush() async {
        let batch = counts.withLock { table -> [Key: Count] in
            let b = table
            table.removeAll()
            return b
        }
        for (key, c) in batch.sorted(by: { $0.value.first < $1.value.first }) {
            let event = AuditEvent(
                timeNanos: AuditEvent.nowNanos(c.last), id: AuditEvent.newID(), kind: .decision, actor: "gateway",
                action: key.action, resource: key.subject, decision: .deny,
                reason: "\(c.count) refused between \(c.first.formatted(.iso8601)) and \(c.last.formatted(.iso8601)): \(key.reason)")
            do {
                try await audit.append(event)
            } catch {
                logger.error("aggregated refusals could not be audited; kept for the next flush", metadata: ["error": "\(error)"])
                counts.withLock { table in
                    if var existing = table[key] {
                        existing.count += c.count
                        existing.first = min(existing.first, c.first)
                        table[key] = existing
                    } else {
                        table[key] = c
                    }
                }
            }
        }
    }
}
