import Foundation
import Logging
import PortcullisAudit
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import PortcullisStore
import PortcullisStorePostgres

/// The store and change feed a node runs on: the SQLite file in the data directory with the in-process feed
/// (the default), or a shared PostgreSQL database with the LISTEN/NOTIFY feed (docs/scale-out.md).
struct StoreBackend: Sendable {
    let store: any StateStore
    let feed: any ChangeFeed
    /// The replica feed, when the store is PostgreSQL.
    let replicaFeed: PostgresChangeFeed?
    /// Rate-limit buckets shared by the replicas (nil: each node's own).
    var rateBudget: (any RateBudget)? = nil
    /// The PostgreSQL store, when there is one (the audit log lives there too).
    var postgres: PostgresStore? = nil

    /// The audit log: the data directory's SQLite log, or the deployment's log in PostgreSQL (signed with the
    /// data directory's `audit-key`, which every replica must share).
    func openAuditLog(_ directory: DataDirectory, logger: Logger) async throws -> any MerkleAuditLog {
        guard let postgres else { return try directory.openAuditLog() }
        return try await PostgresAuditLog.open(store: postgres, signer: try AuditSigningKey.loadOrCreate(path: directory.auditKeyPath),
                                               headPath: directory.auditHeadPath, logger: logger)
    }

    static func open(_ configuration: ServerConfiguration, directory: DataDirectory,
                     logger: Logger) async throws -> StoreBackend {
        guard let postgres = configuration.store?.postgres else {
            return StoreBackend(store: try SQLiteStore(path: directory.databasePath), feed: LocalChangeFeed(), replicaFeed: nil)
        }
        var settings = try PostgresSettings(url: postgres.url, passwordFile: postgres.passwordFile,
                                            poolSize: postgres.pool ?? 10)
        settings.timeoutMs = postgres.timeoutMs ?? 5000
        let store = try await PostgresStore.connect(settings, logger: logger)
        let feed = PostgresChangeFeed(store: store, node: postgres.node ?? "node-" + Hex.random(4),
                                      heartbeat: .milliseconds(postgres.heartbeatMs ?? 200),
                                      staleAfter: .milliseconds(postgres.staleAfterMs ?? 1000), logger: logger)
        logger.notice("store: PostgreSQL", metadata: ["database": "\(settings.redacted)", "node": "\(feed.node)"])
        return StoreBackend(store: store, feed: feed, replicaFeed: feed, rateBudget: PostgresRateBudget(store: store),
                            postgres: store)
    }
}

extension PortcullisApplication.Services {
    /// What a replica does when another replica changes state (and, harmlessly, when it changes it itself):
    /// kills land in the gateway at once; agent, tool and policy changes are read back from the store, one at a
    /// time and in order, so the last read is the store's latest state. After a lost feed the same is done for
    /// everything before the replica vouches again.
    func followReplicas(_ feed: PostgresChangeFeed, logger: Logger) {
        let (reads, queue) = AsyncStream.makeStream(of: StateChange.self)
        feed.subscribe { [gateway] change in
            if case .killed(let ids) = change { _ = gateway.kill(ids) }
            queue.yield(change)
        }
        Task { [self] in
            for await change in reads {
                do {
                    try await follow(change, logger: logger)
                } catch {
                    logger.error("cannot apply a change from another replica", metadata: ["change": "\(change)",
                                                                                        "error": "\(error)"])
                }
            }
        }
        // Taint and risk follow the agent: announced here, applied there.
        let (announcements, announce) = AsyncStream.makeStream(of: StateChange.self)
        gateway.pipeline.taint.onChange { announce.yield(.taint($0)) }
        gateway.monitor.onRiskChange { announce.yield(.risk($0)) }
        Task {
            for await change in announcements { await feed.publish(change) }
        }
        feed.onResynchronize { [self] in
            let agents = try await registry.agents.agents(status: nil)
            for agent in agents { try await apply(agent) }
            try await gateway.catalog.reloadAll()
            await reloadPolicies(logger: logger)
        }
        feed.start()
    }

    private func follow(_ change: StateChange, logger: Logger) async throws {
        switch change {
        case .agent(let id):
            if let agent = try await registry.agents.agent(id: id) { try await apply(agent) }
        case .tool(let name):
            try await gateway.catalog.reload(name)
        case .taint(let change):
            gateway.pipeline.taint.apply(change, now: gateway.pipeline.now)
        case .risk(let id):
            try await gateway.monitor.reload(agentID: id)
        case .policies:
            await reloadPolicies(logger: logger)
        case .killed, .token, .approval, .all:
            break
        }
    }

    /// Puts an agent's stored status in force at this gateway.
    private func apply(_ agent: Agent) async throws {
        switch agent.status {
        case .killed:
            _ = gateway.kill([agent.id])
        case .active:
            gateway.killSwitch.revive(agent.id, ifChangedAfterKill: agent.updatedAt)
        case .suspended, .quarantined, .decommissioned:
            _ = gateway.disconnect([agent.id])
        }
    }

    /// Reloads the policy directory if it changed (a reload announced by another replica that shares it), with
    /// the same record-first rule as a local reload.
    func reloadPolicies(logger: Logger) async {
        var lastFailure: String?
        _ = await GatewayService.reloadIfChanged(gateway, after: "a reload on another replica", lastFailure: &lastFailure,
                                                 logger: logger) { action, summary in
            try await recordAdmin(actor: "system", action: action, resource: gateway.policies.snapshot.source, reason: summary)
        }
    }
}
