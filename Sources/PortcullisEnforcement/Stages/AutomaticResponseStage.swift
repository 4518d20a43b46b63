import PortcullisCore
/// Applies the automatic response in force for the agent (docs/response.md): `read_only` refuses
/// calls that may change something, `approve_writes` makes them need a person's approval.
public struct AutomaticResponseStage: CallStage {
    public var name: String { "automatic-response" }

    public init() {}

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard call.changesState, var decision = call.decision else { return .proceed }
        let risk = call.risk
        if risk.response >= .readOnly {
            let reason = "calls that change something are blocked by the automatic response `\(risk.response.rawValue)` (risk score \(risk.score)); an administrator can clear it"
            decision.refuse(reason)
            call.decision = decision
            return .refuse(Refusal(.suspended, reason))
        }
        if risk.response == .approveWrites, !decision.obligations.contains(ApprovalStage.obligation) {
            decision.obligations.append(ApprovalStage.obligation)
            decision.reasons.append("writes need approval under the automatic response `approve_writes` (risk score \(risk.score))")
            call.decision = decision
        }
        return .proceed
    }
}
