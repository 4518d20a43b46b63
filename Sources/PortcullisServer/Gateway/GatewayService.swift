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

    /// Reloads the policy directory when it changed, and announces it.
    func reloadIfChanged(lastFailure: inout String?) async {
        guard let fresh = await Self.reloadIfChanged(gateway, after: "a change on disk", lastFailure: &lastFailure,
                                                     logger: logger, record: onReload) else { return }
        await feed?.publish(.policies)
        logger.notice("policies reloaded", metadata: ["source": "\(fresh.source)", "count": "\(fresh.count)"])
    }

    /// Reloads the policy directory when it changed (`cause`: why it is read again): recorded first, then put in
    /// force; returns what was installed. A directory that keeps failing the same way is recorded once, not on
    /// every pass.
    static func reloadIfChanged(_ gateway: MCPGateway, after cause: String, lastFailure: inout String?, logger: Logger,
                                record: (_ action: String, _ summary: String) async throws -> Void) async
        -> PolicyEngine.Snapshot?
    {
        let fresh: PolicyEngine.Snapshot
        do {
            guard let changed = try gateway.policies.prepareIfChanged() else {
                lastFailure = nil
                return nil
            }
            fresh = changed
        } catch {
            let text = "\(error)"
            guard text != lastFailure else { return nil }
            lastFailure = text
            logger.error("policy reload failed; the previous policies stay in force", metadata: ["error": "\(text)"])
            try? await record("policy.reload.failed", "reload after \(cause) refused, previous policies kept: \(text)")
            return nil
        }
        lastFailure = nil
        do {
            try await record("policy.reload", "\(fresh.count) policies loaded after \(cause)")
        } catch {
            // Not recorded, so not in force; the next pass tries again.
            logger.error("policy reload not recorded; the previous policies stay in force", metadata: ["error": "\(error)"])
            return nil
        }
        gateway.policies.install(fresh)
        return fresh
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
