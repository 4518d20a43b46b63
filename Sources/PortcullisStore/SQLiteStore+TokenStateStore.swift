public import Foundation
import GRDB
public import PortcullisCore

extension SQLiteStore: TokenStateStore {
    /// How long an expired token stays recorded, so that introspection can still answer "inactive".
    public static let expiredTokenRetention: TimeInterval = 86_400

    /// Records a one-time identifier until `expiresAt`; false means a replay.
    ///
    /// One upsert decides atomically, even against concurrent callers and other
    /// processes: a new identifier is inserted, an expired one (by the store's
    /// clock) is renewed, and an unexpired one is left alone.
    ///
    /// - Returns: true when the identifier was recorded now; false when it was
    ///   already recorded and has not expired.
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func recordOnce(namespace: String, id: String, expiresAt: Date) async throws -> Bool {
        guard gate.enter() else { throw closedError("record a one-time identifier in \(namespace)") }
        defer { gate.leave() }
        do {
            return try await onceRecords.submit(OnceRecord(namespace: namespace, id: id, expiresAt: expiresAt))
        } catch {
            throw PortcullisError.storageFailure("cannot record a one-time identifier in \(namespace)", error)
        }
    }

    /// The upserts of one group commit, in order (a repeated identifier within the batch is a replay too).
    static func recordOnce(_ records: [OnceRecord], at current: Date, _ db: Database) throws -> [Bool] {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO replay_cache (namespace, id, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (namespace, id) DO UPDATE SET expires_at = excluded.expires_at
            WHERE replay_cache.expires_at <= ?
            """)
        return try records.map { record in
            try statement.execute(arguments: [record.namespace, record.id, record.expiresAt.timeIntervalSince1970,
                                              current.timeIntervalSince1970])
            return db.changesCount > 0
        }
    }

    /// Records an issued access token.
    ///
    /// - Throws: ``PortcullisError`` `.conflict` when a token with this `jti` is
    ///   already recorded, `.storage` on a database failure.
    public func recordIssued(_ token: IssuedToken) async throws {
        try await write("record an issued token for agent \(token.agentID)") { db in
            do {
                try IssuedTokenRecord(token: token).insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw PortcullisError(.conflict, "a token with this jti is already recorded")
            }
        }
    }

    /// Records an issued token if its agent is under `limit` active tokens, in one write transaction.
    ///
    /// SQLite has a single writer, so the count and the insert cannot interleave with another issuance.
    ///
    /// - Returns: false when the agent already holds `limit` active tokens; nothing is recorded then.
    /// - Throws: ``PortcullisError`` `.conflict` on a duplicate `jti`, `.storage` on a database failure.
    public func recordIssued(_ token: IssuedToken, limit: Int, now: Date) async throws -> Bool {
        try await write("record an issued token for agent \(token.agentID)") { db in
            let active = try IssuedTokenRecord
                .filter(IssuedTokenRecord.Columns.agentID == token.agentID)
                .filter(IssuedTokenRecord.Columns.revokedAt == nil)
                .filter(IssuedTokenRecord.Columns.expiresAt > now.timeIntervalSince1970)
                .fetchCount(db)
            guard active < limit else { return false }
            do {
                try IssuedTokenRecord(token: token).insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw PortcullisError(.conflict, "a token with this jti is already recorded")
            }
            return true
        }
    }

    /// The issued token with this `jti`, or nil (also once purged).
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func issued(jti: String) async throws -> IssuedToken? {
        try await read("read an issued token") { db in
            try IssuedTokenRecord.fetchOne(db, key: jti)?.token
        }
    }

    /// Marks a token revoked at `at`; a token already revoked keeps its first revocation time.
    ///
    /// - Returns: false when no such token is recorded.
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func revoke(jti: String, at: Date) async throws -> Bool {
        try await write("revoke a token") { db in
            try db.execute(
                sql: "UPDATE issued_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE jti = ?",
                arguments: [at.timeIntervalSince1970, jti])
            return db.changesCount > 0
        }
    }

    /// Revokes every unrevoked token of an agent that has not expired at `at`.
    ///
    /// - Returns: How many tokens were revoked.
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func revokeAll(agentID: String, at: Date) async throws -> Int {
        try await write("revoke the tokens of agent \(agentID)") { db in
            try db.execute(
                sql: """
                    UPDATE issued_tokens SET revoked_at = ?
                    WHERE agent_id = ? AND revoked_at IS NULL AND expires_at > ?
                    """,
                arguments: [at.timeIntervalSince1970, agentID, at.timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// How many of an agent's tokens are unrevoked and expire after `now`.
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func activeTokenCount(agentID: String, now: Date) async throws -> Int {
        try await read("count the active tokens of agent \(agentID)") { db in
            try IssuedTokenRecord
                .filter(IssuedTokenRecord.Columns.agentID == agentID)
                .filter(IssuedTokenRecord.Columns.revokedAt == nil)
                .filter(IssuedTokenRecord.Columns.expiresAt > now.timeIntervalSince1970)
                .fetchCount(db)
        }
    }

    /// Deletes expired replay-cache entries, and tokens expired for longer than ``expiredTokenRetention``.
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func purgeExpired(now: Date) async throws {
        try await write("purge expired token state") { db in
            try db.execute(
                sql: "DELETE FROM replay_cache WHERE expires_at <= ?",
                arguments: [now.timeIntervalSince1970])
            try db.execute(
                sql: "DELETE FROM issued_tokens WHERE expires_at <= ?",
                arguments: [now.timeIntervalSince1970 - Self.expiredTokenRetention])
        }
    }
}

/// A one-time identifier waiting for its group commit.
struct OnceRecord: Sendable {
    var namespace: String
    var id: String
    var expiresAt: Date
}
