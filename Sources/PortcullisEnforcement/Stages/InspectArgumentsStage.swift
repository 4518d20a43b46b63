import PortcullisCore
public import Cedar

/// Scans the arguments for secrets and personal data (on normalized text) and prepares what may be
/// forwarded and audited. It never refuses: the findings go to the decision (`context.dlp`) and to
/// ``ArgumentsDLPStage``.
public struct InspectArgumentsStage: CallStage {
    public let action: GatewayConfiguration.DLPAction
    public var name: String { "inspect-arguments" }

    public init(action: GatewayConfiguration.DLPAction) { self.action = action }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        guard let arguments = call.arguments else { return .proceed }
        let (redacted, kinds) = JSONStrings.redacting(arguments)
        call.findings = kinds
        call.redactedArguments = redacted
        call.forwardedArguments = action == .redact ? redacted : arguments
        return .proceed
    }
}
