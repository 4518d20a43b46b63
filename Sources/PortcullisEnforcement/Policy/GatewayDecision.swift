public import Cedar
public import PortcullisCore

/// A decision as the gateway enforces it: Cedar's answer, with any erroring policy turned into a deny.
public struct GatewayDecision: Sendable {
    public var allowed: Bool
    /// Policies that determined the decision (the permits that allowed it, the forbids that denied it).
    public var determining: [String]
    /// Policies that failed to evaluate; any one makes the decision a deny.
    public var erroring: [String]
    /// Human-readable reasons (`@reason` of the determining policies, or why nothing applied).
    public var reasons: [String]
    /// `@obligation` values of the determining policies (e.g. `approval`).
    public var obligations: [String]
    /// What the candidate set (the policies in force and the shadow ones) would have decided, when there are shadow
    /// policies. Never enforced: recorded in the audit entry.
    public var shadow: AuditEvent.ShadowDecision?
    /// The Cedar request and entities the decision was made on, and the policies' verdict (`policy replay` decides
    /// them again).
    public var input: DecisionInput?

    /// allow, deny, or pending (allowed once a person approves).
    public var verdict: AuditEvent.Decision {
        !allowed ? .deny : obligations.contains("approval") ? .pending : .allow
    }

    public init(allowed: Bool, determining: [String], erroring: [String], reasons: [String], obligations: [String]) {
        self.allowed = allowed
        self.determining = determining
        self.erroring = erroring
        self.reasons = reasons
        self.obligations = obligations
    }

    /// Interprets a Cedar response: erroring policies deny (fail closed), a deny without a forbid
    /// is "no policy permits this".
    public init(_ response: Response, snapshot: PolicyEngine.Snapshot) {
        determining = response.reasons
        erroring = response.errors.map(\.policyID)
        let annotated = response.reasons.compactMap { snapshot.byID[$0] }
        obligations = annotated.compactMap { $0.annotation("obligation") }
        if !response.errors.isEmpty {
            allowed = false
            reasons = response.errors.map { "policy `\($0.policyID)` could not be evaluated (\($0.error)); denied" }
        } else if response.decision == .allow {
            allowed = true
            reasons = annotated.compactMap { $0.annotation("reason") }
        } else {
            allowed = false
            let forbids = annotated.map { $0.annotation("reason") ?? "forbidden by policy `\($0.id)`" }
            reasons = forbids.isEmpty ? ["no policy permits this"] : forbids
        }
    }

    /// One line for errors and the audit log.
    public var summary: String { reasons.joined(separator: "; ") }
}
