public import Foundation

extension AuditEvent {
    /// The current time in Unix nanoseconds.
    public static func nowNanos(_ date: Date = Date()) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded())
    }

    /// A fresh random event id (`evt_` and 16 random bytes in hex).
    public static func newID() -> String {
        "evt_" + Hex.random(16)
    }

    /// An administrator's action, e.g. `agent.suspend`, `policy.reload`, `tool.approve`, `approval.grant`, `kill`.
    ///
    /// - Parameters:
    ///   - action: What was done, `noun.verb`.
    ///   - resource: What it was done to (an agent id, a tool, a policy set).
    ///   - actor: Who did it (`admin:<name>`, or `system`).
    ///   - reason: Why, as the administrator stated it.
    ///   - agent: The agent concerned, as it was at the time.
    public static func admin(action: String, resource: String?, actor: String, reason: String?,
                             agent: AgentRef? = nil, at date: Date = Date()) -> AuditEvent {
        AuditEvent(timeNanos: nowNanos(date), id: newID(), kind: .admin, agent: agent, actor: actor, action: action,
                   resource: resource, decision: .allow, reason: reason)
    }
}
