import Cedar
public import Foundation
import PortcullisCore

/// Counts an allowed call in the session's history (``SessionHistory``), after every other stage let it through and
/// before it is forwarded. While some policy is a rule over the history, a call is refused with a reason to retry
/// when a concurrent call of the same tool (or of the same effect other than read) was counted after its decision
/// read the history: a limit over the history must not be passed by two calls at once. Without such a policy,
/// parallel calls are only counted.
public struct HistoryStage: CallStage {
    public let history: SessionHistory
    public let policies: PolicyEngine
    public let clock: @Sendable () -> Date
    public var name: String { "history" }

    public init(history: SessionHistory, policies: PolicyEngine, clock: @escaping @Sendable () -> Date) {
        self.history = history
        self.policies = policies
        self.clock = clock
    }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard !call.listing, call.action == .callTool || call.action == .httpRequest, let tool = call.tool else { return .proceed }
        let counted = history.record(tool: tool.qualifiedName, effect: tool.effect.rawValue, amount: Self.amount(call.arguments),
                                     agentID: call.caller.agent.id, user: call.caller.onBehalfOf, now: clock(),
                                     decidedOn: policies.snapshot.referencesHistory ? call.session.history : nil)
        guard counted else {
            return .refuse(Refusal(.rateLimited, "another call of this agent changed the session's history while this one was decided; retry it",
                                   retryAfterSeconds: 1))
        }
        return .proceed
    }

    /// The call's `amount` argument (or `body.amount` through the HTTP gateway), when it is an integer.
    static func amount(_ arguments: JSONValue?) -> Int64? {
        let value = arguments?["amount"] ?? arguments?["body"]?["amount"]
        guard case .number(let n)? = value else { return nil }
        return Int64(n)
    }
}
