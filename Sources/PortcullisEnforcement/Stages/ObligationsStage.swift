import PortcullisCore
/// Refuses a call whose decision carries an obligation that no stage of the pipeline implements.
///
/// An `@obligation` is a condition of the permit; one that nothing enforces would silently turn
/// into an unconditional allow. Unknown obligations are treated like a critical extension nobody
/// understands: the call is denied.
public struct ObligationsStage: CallStage {
    public let understood: Set<String>
    public var name: String { "obligations" }

    public init(understood: Set<String>) { self.understood = understood }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard var decision = call.decision else { return .proceed }
        let unknown = decision.obligations.filter { !understood.contains($0) }
        guard !unknown.isEmpty else { return .proceed }
        let list = unknown.map { "`\($0)`" }.joined(separator: ", ")
        let reason = "the permit carries the obligation \(list), which this gateway does not implement; denied"
        decision.refuse(reason)
        call.decision = decision
        return .refuse(Refusal(.obligationUnknown, reason))
    }
}
