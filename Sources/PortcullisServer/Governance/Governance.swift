public import Foundation
public import PortcullisCore
import Logging
import PortcullisGateway
import PortcullisEnforcement
import ServiceLifecycle

/// Agent governance (docs/governance.md): access reviews, the suspension of agents whose review is overdue, and
/// owner offboarding. Every change goes through the registry (compare-and-set, audit record first) and the
/// gateway (sessions closed), as a person's suspension does.
public struct Governance: Sendable {
    let services: PortcullisApplication.Services

    /// The governance clock: the manual testing clock when one is set, else the wall clock.
    var now: Date { services.manualClock?.now ?? Date() }
    var settings: ServerConfiguration.GovernanceSettings { services.configuration.governance }

    /// The answers of an access review. Both questions must be answered.
    public struct Answers: Sendable, Codable {
        /// Is the agent still needed? `false` decommissions it.
        public var stillNeeded: Bool?
        /// Are its scopes still right? `false` needs `removeScopes`.
        public var scopesRight: Bool?
        /// Scopes the agent no longer needs (its outstanding tokens are revoked).
        public var removeScopes: [String]?
        public var notes: String?

        public init(stillNeeded: Bool?, scopesRight: Bool?, removeScopes: [String]? = nil, notes: String? = nil) {
            self.stillNeeded = stillNeeded
            self.scopesRight = scopesRight
            self.removeScopes = removeScopes
            self.notes = notes
        }

        /// The two answers, or a clear refusal.
        func validated() throws -> (stillNeeded: Bool, scopesRight: Bool, remove: [String]) {
            guard let stillNeeded else { throw PortcullisError(.invalidInput, "answer `still_needed` (true or false)") }
            guard let scopesRight else { throw PortcullisError(.invalidInput, "answer `scopes_right` (true or false)") }
            let remove = removeScopes ?? []
            if stillNeeded, !scopesRight, remove.isEmpty {
                throw PortcullisError(.invalidInput, "`scopes_right` is false: name the scopes to remove in `remove_scopes`")
            }
            if scopesRight, !remove.isEmpty {
                throw PortcullisError(.invalidInput, "`scopes_right` is true but `remove_scopes` names scopes to remove")
            }
            return (stillNeeded, scopesRight, remove)
        }
    }

    /// What a review did to one agent.
    public struct ReviewResult: Sendable, Codable {
        public var agent: String
        /// `kept`, `scopes_reduced` or `decommissioned`.
        public var outcome: String
        public var removedScopes: [String]
        public var nextReviewAt: Date?
        /// The agent was suspended only for its overdue review and is active again.
        public var resumed: Bool
        public var status: AgentStatus
    }

    /// Records an access review of one agent by `reviewer`.
    public func review(agentID: String, _ answers: Answers, reviewer: String) async throws -> ReviewResult {
        let (stillNeeded, scopesRight, remove) = try answers.validated()
        let registry = services.registry
        let before = try await registry.existing(agentID)
        let removed = stillNeeded ? before.allowedScopes.filter(remove.contains) : []
        let reviewedAt = now
        var details: [String: Any] = [
            "still_needed": stillNeeded, "scopes_right": scopesRight, "removed_scopes": removed,
            "reviewed_at": reviewedAt.formatted(.iso8601),
        ]
        if let notes = answers.notes, !notes.isEmpty { details["notes"] = notes }
        let detailText = String(decoding: try JSONSerialization.data(withJSONObject: details, options: [.sortedKeys]), as: UTF8.self)
        var reason = "access review by \(reviewer): " + (stillNeeded ? "still needed" : "no longer needed")
        reason += scopesRight ? ", scopes right" : ", scopes reduced (\(removed.joined(separator: " ")))"
        if let notes = answers.notes, !notes.isEmpty { reason += "; \(notes)" }
        var agent = try await registry.recordReview(id: agentID, removeScopes: removed, reviewer: reviewer, reason: reason,
                                                    details: detailText, reviewedAt: reviewedAt)
        if !removed.isEmpty { _ = services.gateway.disconnect([agentID]) }
        guard stillNeeded else {
            agent = try await registry.transition(id: agentID, .decommission, actor: reviewer, reason: reason)
            _ = services.gateway.disconnect([agentID])
            return ReviewResult(agent: agentID, outcome: "decommissioned", removedScopes: [], nextReviewAt: nil,
                                resumed: false, status: agent.status)
        }
        // A suspension that was only for the missing review ends with the review.
        var resumed = false
        if agent.status == .suspended,
           let last = try await registry.agents.events(agentID: agentID).last(where: { $0.kind == .suspended }),
           last.actor == Self.actor {
            agent = try await registry.transition(id: agentID, .resume, actor: reviewer,
                                                  reason: "access review recorded; the agent was suspended only because it was overdue")
            resumed = true
        }
        return ReviewResult(agent: agentID, outcome: removed.isEmpty ? "kept" : "scopes_reduced", removedScopes: removed,
                            nextReviewAt: agent.nextReviewAt, resumed: resumed, status: agent.status)
    }

    /// Records the same review for every agent `owner` owns that is not decommissioned.
    public func review(owner: String, _ answers: Answers, reviewer: String) async throws -> [ReviewResult] {
        _ = try answers.validated()
        let owned = try await services.registry.agents.agents(status: nil)
            .filter { $0.owner == owner && $0.status != .decommissioned }
        guard !owned.isEmpty else { throw PortcullisError(.notFound, "`\(owner)` owns no agent to review") }
        var results: [ReviewResult] = []
        for agent in owned { results.append(try await review(agentID: agent.id, answers, reviewer: reviewer)) }
        return results
    }

    /// What offboarding did.
    public struct OffboardReport: Sendable, Codable {
        public struct Item: Sendable, Codable {
            public var agent: String
            /// `suspended`, `transferred` or `already_stopped` (tokens revoked all the same).
            public var action: String
            /// The agent's tokens that were active when the step began (all revoked).
            public var tokensRevoked: Int
            public var sessionsClosed: Int
        }
        public var owner: String
        public var transferredTo: String?
        public var agents: [Item]
    }

    /// Offboards an owner in one audited step: one record names every agent and what happens to it, then each is
    /// suspended (or transferred to `transferTo`, due for review by them within the grace period) and its tokens are
    /// revoked.
    public func offboard(owner: String, reason: String, transferTo: String?, actor: String) async throws -> OffboardReport {
        try PortcullisError.requireReason(reason)
        if let transferTo {
            guard !transferTo.trimmingCharacters(in: .whitespaces).isEmpty, transferTo != owner else {
                throw PortcullisError(.invalidInput, "`transfer_to` must name another owner")
            }
        }
        let owned = try await services.registry.agents.agents(status: nil)
            .filter { $0.owner == owner && $0.status != .decommissioned }
            .sorted { $0.id < $1.id }
        guard !owned.isEmpty else { throw PortcullisError(.notFound, "`\(owner)` owns no agent") }
        let plan = transferTo.map { "transfer to `\($0)`" } ?? "suspend"
        // The one record of the step, before anything changes: if the log cannot take it, nothing is done.
        try await services.recordAdmin(actor: actor, action: "owner.offboard", resource: owner,
                                       reason: "\(plan) \(owned.map(\.id).joined(separator: " ")): \(reason)")
        var items: [OffboardReport.Item] = []
        var firstError: (any Error)?
        for agent in owned {
            do {
                var action: String
                // Counted before the step: the suspension or transfer revokes them as it writes.
                let active = try await services.registry.tokens.activeTokenCount(agentID: agent.id, now: Date())
                if let transferTo {
                    _ = try await services.registry.transfer(id: agent.id, to: transferTo, actor: actor,
                                                             reason: "owner `\(owner)` offboarded: \(reason)",
                                                             reviewDue: now.addingTimeInterval(Double(settings.reviewGraceDays) * 86_400))
                    action = "transferred"
                } else {
                    do {
                        // Only an agent still active is suspended: a kill or quarantine meanwhile is never downgraded.
                        _ = try await services.registry.transition(
                            id: agent.id, .suspend, actor: actor, reason: "owner `\(owner)` offboarded: \(reason)",
                            unless: { $0.status == .active ? nil : "agent `\($0.id)` is \($0.status.rawValue)" })
                        action = "suspended"
                    } catch let e as PortcullisError where e.code == .conflict {
                        action = "already_stopped"
                    }
                }
                // Transfers and suspensions revoke as they write; this catches any token issued meanwhile.
                _ = try await services.registry.tokens.revokeAll(agentID: agent.id, at: Date())
                await services.feed.publish(.agent(agent.id))
                let (closed, _) = services.gateway.disconnect([agent.id])
                items.append(.init(agent: agent.id, action: action, tokensRevoked: active, sessionsClosed: closed))
            } catch {
                firstError = firstError ?? error
            }
        }
        // Every agent was attempted; the first failure is reported (the audit log holds what was done).
        if let firstError { throw firstError }
        return OffboardReport(owner: owner, transferredTo: transferTo, agents: items)
    }

    /// What one sweep did.
    public struct SweepReport: Sendable, Codable {
        public var checkedAt: Date
        /// Agents suspended because their review is overdue past the grace period.
        public var suspended: [String]
        /// Agents whose review date passed, alerted once (suspended after the grace period).
        public var alerted: [String]
    }

    /// Who governance actions are recorded under.
    static let actor = "governance"

    /// Looks for active agents whose review date has passed: alerts once when it passes, suspends after the grace
    /// period. Every agent is attempted; the first failure is thrown after the others were handled.
    public func sweep() async throws -> SweepReport {
        let checkedAt = now
        let grace = Double(settings.reviewGraceDays) * 86_400
        var report = SweepReport(checkedAt: checkedAt, suspended: [], alerted: [])
        var firstError: (any Error)?
        for agent in try await services.registry.agents.agents(status: .active) where agent.nextReviewAt <= checkedAt {
            let due = agent.nextReviewAt.formatted(.iso8601)
            do {
                if settings.suspendOverdue, agent.nextReviewAt.addingTimeInterval(grace) <= checkedAt {
                    let reason = "access review overdue since \(due) (grace \(settings.reviewGraceDays) days): "
                        + "record a review (portcullis review \(agent.id)) to resume it"
                    let graceDays = settings.reviewGraceDays
                    do {
                        // Decided again on the record as the transition reads it: an agent reviewed, killed or
                        // quarantined since the list was read is left as it is.
                        _ = try await services.registry.transition(id: agent.id, .suspend, actor: Self.actor, reason: reason) { now in
                            guard now.status == .active else { return "agent `\(now.id)` is \(now.status.rawValue)" }
                            guard now.nextReviewAt.addingTimeInterval(Double(graceDays) * 86_400) <= checkedAt else {
                                return "agent `\(now.id)` was reviewed meanwhile"
                            }
                            return nil
                        }
                    } catch let e as PortcullisError where e.code == .conflict {
                        continue  // changed meanwhile
                    }
                    _ = services.gateway.disconnect([agent.id])
                    report.suspended.append(agent.id)
                    try await services.gateway.monitor.notify(agentID: agent.id, detector: .reviewOverdue,
                                                              detail: "suspended: \(reason)", actor: Self.actor)
                } else if try await !alerted(agent) {
                    let suspension = settings.suspendOverdue
                        ? "suspended on \(agent.nextReviewAt.addingTimeInterval(grace).formatted(.iso8601)) unless reviewed"
                        : "governance.suspendOverdue is off"
                    try await services.gateway.monitor.notify(
                        agentID: agent.id, detector: .reviewOverdue,
                        detail: "access review due since \(due) (owner \(agent.owner)); \(suspension)", actor: Self.actor)
                    report.alerted.append(agent.id)
                }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return report
    }

    /// Whether an overdue-review alert was already raised for the agent's current review date.
    private func alerted(_ agent: Agent) async throws -> Bool {
        try await services.monitorStore.alerts(agentID: agent.id, limit: 1000)
            .contains { $0.detector == .reviewOverdue && $0.at >= agent.nextReviewAt }
    }
}

extension PortcullisApplication.Services {
    public var governance: Governance { Governance(services: self) }
}

/// Runs the overdue-review sweep every `governance.sweepSeconds`; a failed sweep is logged and tried again.
struct GovernanceService: Service {
    let governance: Governance
    let logger: Logger

    func run() async throws {
        let interval = Duration.seconds(governance.settings.sweepSeconds)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let report = try await governance.sweep()
                if !report.suspended.isEmpty || !report.alerted.isEmpty {
                    logger.warning("access reviews overdue", metadata: [
                        "suspended": "\(report.suspended.joined(separator: ","))",
                        "alerted": "\(report.alerted.joined(separator: ","))",
                    ])
                }
            } catch {
                logger.error("governance sweep failed; retrying at the next interval", metadata: ["error": "\(error)"])
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
        }
    }
}
