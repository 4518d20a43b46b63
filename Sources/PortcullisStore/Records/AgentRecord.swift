import Foundation
import GRDB
import PortcullisCore

/// A row of the `agents` table.
///
/// JWKs are stored as a JSON array of their exact texts, so that a key reads
/// back byte for byte as the owner registered it.
struct AgentRecord {
    var agent: Agent
}

extension AgentRecord: FetchableRecord, PersistableRecord {
    static let databaseTableName = "agents"

    /// The columns that queries filter and order on.
    enum Columns {
        static let status = Column("status")
        static let createdAt = Column("created_at")
    }

    init(row: Row) throws {
        let id: String = try row.decode(forColumn: "id")
        let statusText: String = try row.decode(forColumn: "status")
        guard let status = AgentStatus(rawValue: statusText) else {
            throw PortcullisError(.storage, "agent \(id) has an unknown status '\(statusText)'")
        }
        let publicKeys = try JSONColumn.decode(try row.decode(forColumn: "public_keys"), column: "agents.public_keys")
        var agent = Agent(
            id: id,
            name: try row.decode(forColumn: "name"),
            owner: try row.decode(forColumn: "owner"),
            purpose: try row.decode(forColumn: "purpose"),
            modelProvider: try row.decode(forColumn: "model_provider"),
            modelName: try row.decode(forColumn: "model_name"),
            modelVersion: try row.decode(forColumn: "model_version"),
            createdAt: Date(timeIntervalSince1970: try row.decode(forColumn: "created_at")),
            reviewCadenceDays: try row.decode(forColumn: "review_cadence_days"),
            nextReviewAt: Date(timeIntervalSince1970: try row.decode(forColumn: "next_review_at")),
            maxSessionSeconds: try row.decode(forColumn: "max_session_seconds"),
            maxConcurrentSessions: try row.decode(forColumn: "max_concurrent_sessions"),
            trustLevel: try row.decode(forColumn: "trust_level"),
            allowedScopes: try JSONColumn.decode(try row.decode(forColumn: "allowed_scopes"),
                                                 column: "agents.allowed_scopes"),
            allowedAudiences: try JSONColumn.decode(try row.decode(forColumn: "allowed_audiences"),
                                                    column: "agents.allowed_audiences"),
            publicKeys: publicKeys.map(JWKJSON.init(json:)),
            configDigest: try row.decode(forColumn: "config_digest"),
            requireDPoP: try row.decode(forColumn: "require_dpop"),
            teams: try JSONColumn.decode(try row.decode(forColumn: "teams"), column: "agents.teams"),
            status: status
        )
        agent.updatedAt = Date(timeIntervalSince1970: try row.decode(forColumn: "updated_at"))
        self.agent = agent
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = agent.id
        container["name"] = agent.name
        container["owner"] = agent.owner
        container["purpose"] = agent.purpose
        container["model_provider"] = agent.modelProvider
        container["model_name"] = agent.modelName
        container["model_version"] = agent.modelVersion
        container["created_at"] = agent.createdAt.timeIntervalSince1970
        container["review_cadence_days"] = agent.reviewCadenceDays
        container["next_review_at"] = agent.nextReviewAt.timeIntervalSince1970
        container["max_session_seconds"] = agent.maxSessionSeconds
        container["max_concurrent_sessions"] = agent.maxConcurrentSessions
        container["trust_level"] = agent.trustLevel
        container["allowed_scopes"] = try JSONColumn.encode(agent.allowedScopes)
        container["allowed_audiences"] = try JSONColumn.encode(agent.allowedAudiences)
        container["public_keys"] = try JSONColumn.encode(agent.publicKeys.map(\.json))
        container["config_digest"] = agent.configDigest
        container["require_dpop"] = agent.requireDPoP
        container["teams"] = try JSONColumn.encode(agent.teams)
        container["status"] = agent.status.rawValue
        container["updated_at"] = agent.updatedAt.timeIntervalSince1970
    }
}
