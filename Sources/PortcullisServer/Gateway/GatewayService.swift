import Logging
import PortcullisCore
import PortcullisGateway
import PortcullisEnforcement
import ServiceLifecycle

/// Runs beside the HTTP server: lists the upstreams once, then watches the policy directory
/// (reloading on change) until shutdown, when it stops the upstreams.
struct GatewayService: Service {
    let gateway: MCPGateway
    let logger: Logger
    /// Records a reload (`policy.reload`) or a refused one (`policy.reload.failed`); a reload is put in
    /// force only once its record is durable.
    let onReload: @Sendable (_ action: String, _ summary: String) async throws -> Void
    /// Where an installed reload is announced.
    var feed: (any ChangeFeed)? = nil

    func run() async throws {
        Task { await gateway.warmUp() }
        await withGracefulShutdownHandler {
            var lastFailure: String?
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try? await Task.sleep(for: .seconds(2))
                await gateway.monitor.flush()
                await gateway.pipeline.refusals.flush()
                await reloadIfChanged(lastFailure: &lastFailure)
            }
        } onGracefulShutdown: {}
        await gateway.monitor.flush()
        await gateway.pipeline.refusals.flush()
        await gateway.shutdown()
    }

    /// Reloads the policy directory when it changed: recorded first, then put in force. A directory that
    /// keeps failing the same way is recorded once, not on every pass.
    func reloadIfChanged(lastFailure: inout String?) async {
        let fresh: PolicyEngine.Snapshot
        do {
            guard let changed = try gateway.policies.prepareIfChanged() else {
                lastFailure = nil
                return
            }
            fresh = changed
        } catch {
            let text = "\(error)"
            guard text != lastFailure else { return }
            lastFailure = text
            logger.error("policy reload failed; the previous policies stay in force", metadata: ["error": "\(text)"])
            try? await onReload("policy.reload.failed", "reload after a change on disk refused, previous policies kept: \(text)")
            return
        }
        lastFailure = nil
        do {
            try await onReload("policy.reload", "\(fresh.count) policies loaded after a change on disk")
        } catch {
            // Not recorded, so not in force; the next pass tries again.
            logger.error("policy reload not recorded; the previous policies stay in force", metadata: ["error": "\(error)"])
            return
        }
        gateway.policies.install(fresh)
        await feed?.publish(.policies)
        logger.notice("policies reloaded", metadata: ["source": "\(fresh.source)", "count": "\(fresh.count)"])
    }
}

extension GatewayService {
    /// The same service, announcing installed reloads on `feed`.
    func announcing(on feed: any ChangeFeed) -> GatewayService {
        var copy = self
        copy.feed = feed
        return copy
    }
}
