import Foundation
public import PortcullisCore
import PortcullisGateway
import PortcullisEnforcement

extension PortcullisApplication.Services {
    /// Whom the kill switch stops.
    public enum KillTarget: Sendable {
        case agent(String)
        case owner(String)
        case all
    }

    /// What a kill did.
    public struct KillReport: Sendable {
        public var killed: [String]
        /// Agents in the target that were already killed or decommissioned.
        public var alreadyStopped: [String]
        public var sessionsClosed: Int
        public var callsCancelled: Int
        public var tookMs: Double
    }

    /// The kill switch (docs/response.md): the gateway refuses the agents' requests, cancels their calls in
    /// flight and closes their sessions at once; then each agent becomes `killed` in the store (so every
    /// node and every later request refuses its tokens) and its tokens are revoked, with an audit record.
    public func kill(_ target: KillTarget, actor: String, reason: String) async throws -> KillReport {
        try PortcullisError.requireReason(reason)
        let started = ContinuousClock.now
        let scope = switch target {
        case .agent: "agent"
        case .owner: "owner"
        case .all: "all"
        }
        metrics.count(GatewayMetrics.Name.kills, ("target", scope), ("by", actor == "monitor" ? "monitor" : "person"))
        let agents: [Agent]
        switch target {
        case .agent(let id):
            agents = [try await registry.existing(id)]
        case .owner(let owner):
            agents = try await registry.agents.agents(status: nil).filter { $0.owner == owner }
            guard !agents.isEmpty else { throw PortcullisError(.notFound, "no agent is owned by `\(owner)`") }
        case .all:
            agents = try await registry.agents.agents(status: nil)
        }
        let stopped: Set<AgentStatus> = [.killed, .decommissioned]
        let ids = agents.filter { !stopped.contains($0.status) }.map(\.id)
        // In memory first: effective for requests already past authentication.
        let (closed, cancelled) = gateway.kill(ids)
        await feed.publish(.killed(ids))
        var firstError: (any Error)?
        for id in ids {
            do {
                _ = try await registry.transition(id: id, .kill, actor: actor, reason: reason)
            } catch {
                // The kill took effect at the gateway; the error (e.g. the audit log is down) is reported.
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        let elapsed = ContinuousClock.now - started
        return KillReport(killed: ids, alreadyStopped: agents.filter { stopped.contains($0.status) }.map(\.id),
                          sessionsClosed: closed, callsCancelled: cancelled,
                          tookMs: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    /// The only way back from a kill or an automatic response: the agent is active again, the gateway
    /// accepts it, and its automatic response and risk score are cleared.
    public func resume(id: String, actor: String, reason: String) async throws -> Agent {
        let agent = try await registry.transition(id: id, .resume, actor: actor, reason: reason)
        gateway.killSwitch.revive(id)
        _ = try await gateway.monitor.clear(agentID: id, actor: actor, reason: "resumed: \(reason)")
        return agent
    }
}
