import ArgumentParser
import NIOCore
import NIOPosix

struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "Zero-trust control plane and gateway for AI agents.",
        subcommands: [ServeCommand.self, ConfigCommand.self, AgentCommand.self, ToolsCommand.self, PolicyCommand.self,
                      ApprovalsCommand.self, ApproversCommand.self, KillCommand.self, AlertsCommand.self,
                      AuditCommand.self, CedarCommand.self, VaultCommand.self, ReviewCommand.self, OwnersCommand.self,
                      ReportCommand.self]
    )
}

@main
enum Entry {
    static func main() async {
        // Swift concurrency's jobs run on the NIO event loop threads instead of a pool of their own, so an `await`
        // between a request handler, the pipeline and the upstream client does not wake a second set of threads
        // (every wake-up is a futex call and a context switch, which dominated the gateway's CPU per call at low
        // concurrency). It has to happen before any other task is created.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Portcullis.main()
    }
}
