import PortcullisCore
import Cedar
public import Foundation

/// Asks Cedar. Builds the request and entities from the call; when they cannot be built, or any
/// policy errors, the call is denied (nothing is evaluated against a partial store).
public struct DecideStage: CallStage {
    public let policies: PolicyEngine
    /// The agent's risk and automatic response (the behaviour monitor's; none offline).
    public let risk: @Sendable (_ agentID: String) -> BehaviourMonitor.Risk
    public let clock: @Sendable () -> Date
    public var name: String { "decide" }

    public init(policies: PolicyEngine, risk: @escaping @Sendable (_ agentID: String) -> BehaviourMonitor.Risk,
                clock: @escaping @Sendable () -> Date) {
        self.policies = policies
        self.risk = risk
        self.clock = clock
    }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        call.risk = risk(call.caller.agent.id)
        let decision = decide(call)
        call.decision = decision
        return decision.allowed ? .proceed : .refuse(Refusal(.denied, decision.summary))
    }

    /// The decision for a call, without side effects (also used to filter listings).
    public func decide(_ call: GatewayCall) -> GatewayDecision {
        do {
            let (request, entities) = try CedarMapping.request(
                action: call.action, caller: call.caller, tool: call.tool, upstream: call.upstream,
                arguments: call.listing ? .object([]) : call.arguments, session: call.session, dlpKinds: call.findings,
                listing: call.listing, now: clock(), risk: call.risk, http: call.http, provenance: call.provenance)
            let (response, snapshot) = policies.authorize(request, entities: entities)
            var decision = restricted(GatewayDecision(response, snapshot: snapshot), call, snapshot)
            if let candidate = policies.authorizeCandidate(request, entities: entities, snapshot: snapshot) {
                let would = restricted(GatewayDecision(candidate, snapshot: snapshot), call, snapshot)
                decision.shadow = AuditEvent.ShadowDecision(decision: would.verdict, determiningPolicies: would.determining,
                                                            erroringPolicies: would.erroring, flipped: would.verdict != decision.verdict)
            }
            if !call.listing { decision.input = DecisionInput(request: request, entities: entities, verdict: decision.verdict) }
            return decision
        } catch {
            return GatewayDecision(allowed: false, determining: [], erroring: [],
                                   reasons: ["the request's entities could not be built (\(error)); denied"], obligations: [])
        }
    }

    /// A restricted upstream opens only through a permit that names it.
    func restricted(_ decision: GatewayDecision, _ call: GatewayCall, _ snapshot: PolicyEngine.Snapshot) -> GatewayDecision {
        var decision = decision
        if decision.allowed, let http = call.http, http.dataClass == DataClass.restricted.rawValue,
           !snapshot.permitNames(upstream: call.upstream, among: decision.determining) {
            decision.refuse("`\(call.upstream)` is a restricted upstream: only a permit policy that names it in its resource scope opens it, and none allowed this call")
        }
        return decision
    }
}
