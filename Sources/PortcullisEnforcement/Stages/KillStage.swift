import PortcullisCore
/// Refuses the calls of a killed agent that were already past authentication when the kill landed.
public struct KillStage: CallStage {
    public let killSwitch: KillSwitch
    public var name: String { "kill" }

    public init(killSwitch: KillSwitch) { self.killSwitch = killSwitch }

    public func apply(to call: inout GatewayCall) async -> StageVerdict {
        killSwitch.isKilled(call.caller.agent.id) ? .refuse(.killed) : .proceed
    }
}

extension Refusal {
    /// What a killed agent's request or call gets.
    public static let killed = Refusal(.killed, "the agent was killed")
}
