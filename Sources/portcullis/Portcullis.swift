import ArgumentParser

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "Zero-trust control plane and gateway for AI agents.",
        subcommands: [ServeCommand.self, ConfigCommand.self, AgentCommand.self, ToolsCommand.self, PolicyCommand.self,
                      ApprovalsCommand.self, ApproversCommand.self, KillCommand.self, AlertsCommand.self,
                      AuditCommand.self, CedarCommand.self]
    )
}
