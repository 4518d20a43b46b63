public import Foundation
public import PortcullisCore
import PostgresNIO

extension PostgresStore: TokenStateStore {
    /// How long an expired token stays recorded, so that introspection can still answer "inactive" (as SQLite).
    public static let expiredTokenRetention: TimeInterval = 86_400

    /// One upsert decides, across every replica: a new identifier is inserted, an expired one renewed, an
    /// unexpired one left alone, and a row comes back only in the first two cases.
    public func recordOnce(namespace: String, id: String, expiresAt: Date) async throws -> Bool {
        let current = now().timeIntervalSince1970
        return try await !rows("record a one-time identifier in \(namespace)", """
            INSERT INTO replay_cache (namespace, id, expires_at) VALUES (\(namespace), \(id), \(expiresAt.timeIntervalSince1970))
            ON CONFLICT (namespace, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
            WHERE replay_cache.expires_at <= \(current)
            RETURNING 1
            """).isEmpty
    }

    public func recordIssued(_ token: IssuedToken) async throws {
        let logger = self.logger
        try await transaction("record an issued token for agent \(token.agentID)") { c in
            try await Self.insert(token, c, logger: logger)
        }
    }

    /// Counts and inserts under a transaction-scoped advisory lock on the agent, so two replicas issuing to the
    /// same agent at once take turns: the limit holds across the deployment.
    public func recordIssued(_ token: IssuedToken, limit: Int, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await transaction("record an issued token for agent \(token.agentID)") { c in
            _ = try await c.rows("SELECT pg_advisory_xact_lock(hashtextextended(\("tokens:" + token.agentID), 0))",
                                 logger: logger)
            let active = try await c.rows("""
                SELECT count(*) FROM issued_tokens
                WHERE agent_id = \(token.agentID) AND revoked_at IS NULL AND expires_at > \(now.timeIntervalSince1970)
                """, logger: logger).first.map { try $0.decode(Int64.self) } ?? 0
            guard active < limit else { return false }
            try await Self.insert(token, c, logger: logger)
            return true
        }
    }

    public func issued(jti: String) async throws -> IssuedToken? {
        try await rows("read an issued token", """
            SELECT jti, agent_id, subject, audience, scope, issued_at, expires_at, revoked_at, jkt, claims_json, parent_jti
            FROM issued_tokens WHERE jti = \(jti)
            """).first.map { row in
            let (jti, agent, subject, audience, scope, issued, expires, revoked, jkt, claims, parent) = try row.decode(
                (String, String, String, String, String, Double, Double, Double?, String?, String, String?).self)
            return IssuedToken(jti: jti, agentID: agent, subject: subject, audience: audience, scope: scope,
                               issuedAt: Date(timeIntervalSince1970: issued), expiresAt: Date(timeIntervalSince1970: expires),
                               revokedAt: revoked.map(Date.init(timeIntervalSince1970:)), jkt: jkt, claimsJSON: claims,
                               parentJTI: parent)
        }
    }

    public func revoke(jti: String, at: Date) async throws -> Bool {
        try await !rows("revoke a token", """
            UPDATE issued_tokens SET revoked_at = COALESCE(revoked_at, \(at.timeIntervalSince1970)) WHERE jti = \(jti)
            RETURNING 1
            """).isEmpty
    }

    public func revokeAll(agentID: String, at: Date) async throws -> Int {
        let t = at.timeIntervalSince1970
        return try await rows("revoke the tokens of agent \(agentID)", """
            UPDATE issued_tokens SET revoked_at = \(t)
            WHERE agent_id = \(agentID) AND revoked_at IS NULL AND expires_at > \(t)
            RETURNING 1
            """).count
    }

    public func activeTokenCount(agentID: String, now: Date) async throws -> Int {
        Int(try await rows("count the active tokens of agent \(agentID)", """
            SELECT count(*) FROM issued_tokens
            WHERE agent_id = \(agentID) AND revoked_at IS NULL AND expires_at > \(now.timeIntervalSince1970)
            """).first.map { try $0.decode(Int64.self) } ?? 0)
    }

    public func purgeExpired(now: Date) async throws {
        let t = now.timeIntervalSince1970
        let logger = self.logger
        try await transaction("purge expired token state") { c in
            _ = try await c.rows("DELETE FROM replay_cache WHERE expires_at <= \(t)", logger: logger)
            _ = try await c.rows("DELETE FROM issued_tokens WHERE expires_at <= \(t - Self.expiredTokenRetention)",
                                 logger: logger)
        }
    }

    private static func insert(_ t: IssuedToken, _ c: PostgresConnection, logger: Logger) async throws {
        do {
            _ = try await c.rows("""
                INSERT INTO issued_tokens (jti, agent_id, subject, audience, scope, issued_at, expires_at, revoked_at, jkt,
                    claims_json, parent_jti)
                VALUES (\(t.jti), \(t.agentID), \(t.subject), \(t.audience), \(t.scope), \(t.issuedAt.timeIntervalSince1970),
                    \(t.expiresAt.timeIntervalSince1970), \(t.revokedAt?.timeIntervalSince1970), \(t.jkt), \(t.claimsJSON),
                    \(t.parentJTI))
                """, logger: logger)
        } catch where sqlState(error) == "23505" {
            throw PortcullisError(.conflict, "a token with this jti is already recorded")
        }
    }
}
