import Foundation
import PortcullisCore

/// The registry's governance writes: an access review and a transfer to another owner. Each is one compare-and-set
/// of the agent record with its lifecycle event, recorded in the audit log first (``audited(_:_:actor:reason:perform:)``).
extension AgentRegistry {
    /// Records an access review: the next review moves one cadence past `reviewedAt`, `removeScopes` leave the
    /// agent's allowed scopes (its outstanding tokens are revoked then, since they may carry them).
    func recordReview(id: String, removeScopes: [String], reviewer: String, reason: String, details: String,
                      reviewedAt: Date) async throws -> Agent {
        try await compareAndSet {
            let read = try await existing(id)
            guard read.status != .decommissioned else {
                throw PortcullisError(.conflict, "agent `\(id)` is decommissioned; there is nothing to review")
            }
            var a = read
            a.allowedScopes.removeAll { removeScopes.contains($0) }
            a.nextReviewAt = reviewedAt.addingTimeInterval(Double(a.reviewCadenceDays) * 86_400)
            a.updatedAt = Self.after(read.updatedAt, now())
            try await audited("agent.review", a, actor: reviewer, reason: reason) {
                try await agents.update(a, expected: read, event: LifecycleEvent(
                    agentID: id, kind: .reviewed, actor: reviewer, reason: reason, details: details, at: a.updatedAt))
                await feed?.publish(.agent(id))
                if a.allowedScopes != read.allowedScopes {
                    _ = try await tokens.revokeAll(agentID: id, at: a.updatedAt)
                }
            }
            return a
        }
    }

    /// Moves an agent to `newOwner`, due for review by them at `reviewDue`; its outstanding tokens are revoked
    /// (they were obtained under the old owner's accountability).
    func transfer(id: String, to newOwner: String, actor: String, reason: String, reviewDue: Date) async throws -> Agent {
        try await compareAndSet {
            let read = try await existing(id)
            guard read.status != .decommissioned else {
                throw PortcullisError(.conflict, "agent `\(id)` is decommissioned and cannot be transferred")
            }
            var a = read
            a.owner = try Self.nonEmpty(newOwner, "transfer_to")
            a.nextReviewAt = reviewDue
            a.updatedAt = Self.after(read.updatedAt, now())
            let details = try JSONSerialization.data(withJSONObject: ["from": read.owner, "to": a.owner], options: [.sortedKeys])
            try await audited("agent.transfer", a, actor: actor, reason: reason) {
                try await agents.update(a, expected: read, event: LifecycleEvent(
                    agentID: id, kind: .transferred, actor: actor, reason: reason,
                    details: String(decoding: details, as: UTF8.self), at: a.updatedAt))
                await feed?.publish(.agent(id))
                _ = try await tokens.revokeAll(agentID: id, at: a.updatedAt)
            }
            return a
        }
    }
}
