import Cedar
public import Foundation
import PortcullisCore
import Synchronization

/// Labels every argument value with where it came from: the user's intent, a trusted result, an untrusted result,
/// or nowhere (docs/provenance.md). It never refuses: the labels go to the decision (`context.provenance`) and the
/// audit record.
public struct ProvenanceStage: CallStage {
    public let ledger: ProvenanceLedger
    public let clock: @Sendable () -> Date
    public var name: String { "provenance" }

    public init(ledger: ProvenanceLedger, clock: @escaping @Sendable () -> Date) {
        self.ledger = ledger
        self.clock = clock
    }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard !call.listing, call.action == .callTool || call.action == .httpRequest,
              ledger.enabled.load(ordering: .relaxed) else { return .proceed }
        let caller = call.caller
        let intent = Self.intentValues(caller)
        let hasIntent = caller.intent != nil || !caller.authorizationDetails.isEmpty
        call.provenance = ledger.label(call.arguments, intent: intent, hasIntent: hasIntent, agentID: caller.agent.id,
                                       user: caller.onBehalfOf, now: clock())
        return .proceed
    }

    /// The values of the user's intent: the task statement and every string in the delegated
    /// `authorization_details`.
    public static func intentValues(_ caller: GatewayCaller) -> [ValueExtractor.Value] {
        var out: [ValueExtractor.Value] = []
        if let intent = caller.intent { out += ValueExtractor.values(in: intent) }
        var strings: [String] = []
        func walk(_ v: JSONAny) {
            switch v {
            case .string(let s): strings.append(s)
            case .array(let items): items.forEach(walk)
            case .object(let members): members.values.forEach(walk)
            default: break
            }
        }
        caller.authorizationDetails.forEach(walk)
        for s in strings { out += ValueExtractor.values(in: s) }
        return out
    }
}
