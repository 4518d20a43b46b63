import Logging
import PortcullisGateway
import ServiceLifecycle

/// Runs beside the HTTP server: lists the upstreams once, then watches the policy directory
/// (reloading on change) until shutdown, when it stops the upstreams.
struct GatewayService: Service {
    let gateway: MCPGateway
    let logger: Logger
    let onReload: @Sendable (_ summary: String) async -> Void

    func run() async throws {
        Task { await gateway.warmUp() }
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: .seconds(2))
                await gateway.monitor.flush()
                do {
                    if let snapshot = try gateway.policies.reloadIfChanged() {
                        logger.notice("policies reloaded", metadata: ["source": "\(snapshot.source)", "count": "\(snapshot.count)"])
                        await onReload("\(snapshot.count) policies loaded after a change on disk")
                    }
                } catch {
                    logger.error("policy reload failed; the previous policies stay in force", metadata: ["error": "\(error)"])
                    await onReload("reload after a change on disk failed, previous policies kept: \(error)")
                }
            }
        } onGracefulShutdown: {}
        await gateway.monitor.flush()
        await gateway.shutdown()
    }
}
