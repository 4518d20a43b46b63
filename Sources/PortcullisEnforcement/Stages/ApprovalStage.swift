import PortcullisCore
import Cedar
import Foundation

/// Implements the `approval` obligation: the exact call (agent, tool, arguments digest, session)
/// waits for a named person's decision (docs/response.md). An approval is used once.
public struct ApprovalStage: CallStage {
    /// The obligation value this stage implements.
    public static let obligation = "approval"

    public let broker: ApprovalBroker
    public let killSwitch: KillSwitch
    public var name: String { "approval" }
    public var obligations: Set<String> { [Self.obligation] }

    public init(broker: ApprovalBroker, killSwitch: KillSwitch) {
        self.broker = broker
        self.killSwitch = killSwitch
    }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard var decision = call.decision, decision.obligations.contains(Self.obligation) else { return .proceed }
        guard let tool = call.tool, let digest = call.argumentsDigest else {
            return .refuse(Refusal(.denied, "an approval can only be given for a call with a tool and arguments"))
        }
        let request = ApprovalBroker.Request(
            binding: Approval.Binding(agentID: call.caller.agent.id, tool: tool.qualifiedName, argumentsDigest: digest,
                                      session: call.sessionRef ?? "none"),
            agent: call.caller.agent, tool: tool, reasons: decision.reasons,
            arguments: (call.redactedArguments ?? call.arguments).map(JSONAny.init))
        let broker = broker
        let waiting = call.waiting
        let outcome: Result<ApprovalBroker.Resolution, any Error>? = await killSwitch.run(agentID: call.caller.agent.id) {
            do { return .success(try await broker.resolve(request, waiting: waiting)) } catch { return .failure(error) }
        }
        let verdict: StageVerdict
        switch outcome {
        case nil:
            verdict = .refuse(Refusal(.killed, "the agent was killed while waiting for approval"))
        case .failure(let error)?:
            verdict = .refuse(Refusal(.denied, "the approval could not be processed (\(error)); denied"))
        case .success(.proceed(let a))?:
            decision.reasons.append("approved by \(a.decidedBy ?? "?") (\(a.id)): \(a.decisionReason ?? "")")
            call.decision = decision
            return .proceed
        case .success(.pending(let a))?:
            let expires = a.expiresAt.formatted(.iso8601)
            let reason = "approval \(a.id) is pending until \(expires); retry the same call once it is approved"
            verdict = .refuse(Refusal(.approvalPending, "approval required: \(decision.summary). \(reason)", data: [
                ("approvalId", .string(a.id)), ("status", .string("pending")), ("expiresAt", .string(expires)),
            ]))
        case .success(.refused(let a))?:
            let why = a.status == .denied
                ? "approval \(a.id) was denied by \(a.decidedBy ?? "?"): \(a.decisionReason ?? "")"
                : "approval \(a.id) is \(a.status.rawValue)"
            verdict = .refuse(Refusal(.approvalRefused, why, data: [("approvalId", .string(a.id)),
                                                                    ("status", .string(a.status.rawValue))]))
        }
        if case .refuse(let r) = verdict { decision.refuse(r.reason) }
        call.decision = decision
        return verdict
    }
}
