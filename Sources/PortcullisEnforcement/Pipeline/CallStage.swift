/// One concern of enforcement, as a value: it looks at a call and lets it proceed or refuses it.
///
/// Stages compose the way swift-certificates composes `VerifierPolicy` values: the pipeline runs
/// them in order and stops at the first refusal. A stage that implements an `@obligation` says so
/// in ``obligations``; an obligation that no stage of the pipeline implements denies the call
/// (like a critical X.509 extension nobody understands).
public protocol CallStage: Sendable {
    /// A short name for logs and docs.
    var name: String { get }
    /// The `@obligation` values this stage implements.
    var obligations: Set<String> { get }
    /// Looks at the call; may add to it.
    func apply(to call: inout GatewayCall) async -> StageVerdict
}

extension CallStage {
    public var obligations: Set<String> { [] }
}
