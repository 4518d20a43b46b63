import Foundation
import GRDB
import PortcullisCore

/// A row of the `issued_tokens` table.
struct IssuedTokenRecord {
    var token: IssuedToken
}

extension IssuedTokenRecord: FetchableRecord, PersistableRecord {
    static let databaseTableName = "issued_tokens"

    /// The columns that queries filter on.
    enum Columns {
        static let agentID = Column("agent_id")
        static let expiresAt = Column("expires_at")
        static let revokedAt = Column("revoked_at")
    }

    init(row: Row) throws {
        let revokedAt: Double? = try row.decode(forColumn: "revoked_at")
        token = IssuedToken(
            jti: try row.decode(forColumn: "jti"),
            agentID: try row.decode(forColumn: "agent_id"),
            subject: try row.decode(forColumn: "subject"),
            audience: try row.decode(forColumn: "audience"),
            scope: try row.decode(forColumn: "scope"),
            issuedAt: Date(timeIntervalSince1970: try row.decode(forColumn: "issued_at")),
            expiresAt: Date(timeIntervalSince1970: try row.decode(forColumn: "expires_at")),
            revokedAt: revokedAt.map(Date.init(timeIntervalSince1970:)),
            jkt: try row.decode(forColumn: "jkt"),
            claimsJSON: try row.decode(forColumn: "claims_json"),
            parentJTI: try row.decode(forColumn: "parent_jti")
        )
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["jti"] = token.jti
        container["agent_id"] = token.agentID
        container["subject"] = token.subject
        container["audience"] = token.audience
        container["scope"] = token.scope
        container["issued_at"] = token.issuedAt.timeIntervalSince1970
        container["expires_at"] = token.expiresAt.timeIntervalSince1970
        container["revoked_at"] = token.revokedAt?.timeIntervalSince1970
        container["jkt"] = token.jkt
        container["claims_json"] = token.claimsJSON
        container["parent_jti"] = token.parentJTI
    }
}
