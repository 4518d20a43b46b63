import PortcullisCore
/// Refuses a call whose arguments carry secrets or personal data, when DLP says block (the default).
public struct ArgumentsDLPStage: CallStage {
    public let action: GatewayConfiguration.DLPAction
    public var name: String { "arguments-dlp" }

    public init(action: GatewayConfiguration.DLPAction) { self.action = action }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard action == .block, !call.findings.isEmpty else { return .proceed }
        let reason = "the arguments contain \(call.findings.map(\.rawValue).joined(separator: ", "))"
        call.decision?.refuse(reason)
        return .refuse(Refusal(.denied, reason))
    }
}

extension GatewayDecision {
    /// Turns an allow into a deny for a reason outside Cedar (DLP, a limit, the automatic response).
    public mutating func refuse(_ reason: String) {
        allowed = false
        reasons = [reason]
    }
}
