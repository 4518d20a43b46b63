import Foundation
import PortcullisCore

extension AgentRegistry {
    /// Records an admin action in the audit log, then performs it.
    ///
    /// The record is written first: when the log cannot take it, an action that grants or
    /// changes (register, update, resume) is not performed and the caller gets a `.storage`
    /// error (HTTP 503). An action that takes standing away (suspend, quarantine,
    /// decommission) is still performed, because refusing it would keep a possibly rogue
    /// agent running; the caller still gets the 503, naming what happened. If the action
    /// itself fails after it was recorded, a second entry records the failure (best effort).
    func audited(_ action: String, _ agent: Agent, actor: String, reason: String,
                 perform: () async throws -> Void) async throws {
        guard let audit else { return try await perform() }
        let restrictive = ["agent.suspend", "agent.quarantine", "agent.decommission", "agent.kill"].contains(action)
        let ref = AuditEvent.AgentRef(id: agent.id, model: agent.modelName, version: agent.modelVersion,
                                      configDigest: agent.configDigest)
        do {
            try await audit.append(.admin(action: action, resource: agent.id, actor: actor, reason: reason, agent: ref, at: now()))
        } catch {
            guard restrictive else {
                throw PortcullisError(.storage, "the audit log cannot record `\(action)`, so it was not done: \(error)")
            }
            try await perform()
            throw PortcullisError(.storage, "`\(action)` of agent `\(agent.id)` was done, but the audit log could not record it: \(error)")
        }
        do {
            try await perform()
        } catch {
            var failed = AuditEvent.admin(action: action, resource: agent.id, actor: actor, reason: reason, agent: ref, at: now())
            failed.outcome = .init(status: "error: \(error)")
            _ = try? await audit.append(failed)
            throw error
        }
    }
}
