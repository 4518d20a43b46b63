import Foundation
public import PortcullisCore
import PostgresNIO

extension PostgresStore: VaultStore {
    public func vaultPut(_ r: VaultRecord) async throws {
        let metadata = try StoredJSON.encode(r.metadata)
        // An upsert, not a delete and insert: deleting would cascade to users' grants.
        _ = try await rows("store vault secret \(r.name)", """
            INSERT INTO vault_secrets (name, kind, sealed, key_id, metadata, version, created_at, updated_at, updated_by)
            VALUES (\(r.name), \(r.kind), \(ByteBuffer(bytes: r.sealed)), \(r.keyID), \(metadata), \(Int64(r.version)),
                    \(r.createdAt.timeIntervalSince1970), \(r.updatedAt.timeIntervalSince1970), \(r.updatedBy))
            ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id,
                metadata = EXCLUDED.metadata, version = EXCLUDED.version, created_at = EXCLUDED.created_at,
                updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            """)
    }

    public func vaultRecord(name: String) async throws -> VaultRecord? {
        try await rows("read vault secret \(name)", """
            SELECT name, kind, sealed, key_id, metadata, version, created_at, updated_at, updated_by
            FROM vault_secrets WHERE name = \(name)
            """).first.map(Self.vaultRecord)
    }

    public func vaultRecords() async throws -> [VaultRecord] {
        try await rows("list vault secrets", """
            SELECT name, kind, sealed, key_id, metadata, version, created_at, updated_at, updated_by
            FROM vault_secrets ORDER BY name
            """).map(Self.vaultRecord)
    }

    public func vaultDelete(name: String) async throws -> Bool {
        try await !rows("delete vault secret \(name)", "DELETE FROM vault_secrets WHERE name = \(name) RETURNING 1").isEmpty
    }

    public func vaultKeyCheck() async throws -> VaultKeyCheck? {
        try await rows("read the vault key check", "SELECT key_id, check_sealed FROM vault_meta WHERE id = 1").first.map {
            let (id, sealed) = try $0.decode((String, ByteBuffer).self)
            return VaultKeyCheck(keyID: id, sealed: Array(sealed.readableBytesView))
        }
    }

    /// Everything or nothing, and only from the key the rotation started from: the key check row is locked
    /// first, so two replicas rotating at once take turns and the second finds the key changed.
    public func vaultRekey(_ records: [VaultRecord], grants: [VaultGrantRecord], check: VaultKeyCheck,
                           expectedKeyID: String?) async throws {
        let logger = self.logger
        try await transaction("re-key the vault") { c in
            _ = try await c.rows("SELECT pg_advisory_xact_lock(hashtextextended('vault:rekey', 0))", logger: logger)
            let current = try await c.rows("SELECT key_id FROM vault_meta WHERE id = 1 FOR UPDATE", logger: logger)
                .first.map { try $0.decode(String.self) }
            guard current == expectedKeyID else {
                throw PortcullisError(.concurrentUpdate, "the vault key changed meanwhile (another rotation?); nothing was changed")
            }
            _ = try await c.rows("""
                INSERT INTO vault_meta (id, key_id, check_sealed) VALUES (1, \(check.keyID), \(ByteBuffer(bytes: check.sealed)))
                ON CONFLICT (id) DO UPDATE SET key_id = EXCLUDED.key_id, check_sealed = EXCLUDED.check_sealed
                """, logger: logger)
            for r in records {
                let changed = try await c.rows("""
                    UPDATE vault_secrets SET sealed = \(ByteBuffer(bytes: r.sealed)), key_id = \(r.keyID)
                    WHERE name = \(r.name) RETURNING 1
                    """, logger: logger)
                guard changed.count == 1 else {
                    throw PortcullisError(.concurrentUpdate, "vault secret \(r.name) changed during the rotation; nothing was changed")
                }
            }
            for g in grants {
                let changed = try await c.rows("""
                    UPDATE vault_grants SET sealed = \(ByteBuffer(bytes: g.sealed)), key_id = \(g.keyID)
                    WHERE secret = \(g.secret) AND "user" = \(g.user) AND version = \(Int64(g.version)) RETURNING 1
                    """, logger: logger)
                guard changed.count == 1 else {
                    throw PortcullisError(.concurrentUpdate, "a user's grant for \(g.secret) changed during the rotation; nothing was changed")
                }
            }
            let stale = try await c.rows("""
                SELECT (SELECT count(*) FROM vault_secrets WHERE key_id <> \(check.keyID))
                     + (SELECT count(*) FROM vault_grants WHERE key_id <> \(check.keyID))
                """, logger: logger).first.map { try $0.decode(Int64.self) } ?? 0
            guard stale == 0 else {
                throw PortcullisError(.concurrentUpdate, "\(stale) vault secret(s) or grant(s) were stored during the rotation; nothing was changed")
            }
        }
    }

    public func vaultPutGrant(_ g: VaultGrantRecord, expectedVersion: Int?) async throws -> Bool {
        let logger = self.logger
        return try await transaction("store a user's grant for \(g.secret)") { c in
            // The secret's row is locked so that it cannot be deleted under the grant.
            let secret = try await c.rows("SELECT 1 FROM vault_secrets WHERE name = \(g.secret) FOR SHARE", logger: logger)
            if let expectedVersion {
                let current = try await c.rows("""
                    SELECT version FROM vault_grants WHERE secret = \(g.secret) AND "user" = \(g.user) FOR UPDATE
                    """, logger: logger).first.map { try $0.decode(Int64.self) }
                guard current == Int64(expectedVersion) else { return false }
            }
            guard !secret.isEmpty else { throw PortcullisError(.notFound, "no vault secret named `\(g.secret)`") }
            _ = try await c.rows("""
                INSERT INTO vault_grants (secret, "user", sealed, key_id, scope, version, created_at, updated_at)
                VALUES (\(g.secret), \(g.user), \(ByteBuffer(bytes: g.sealed)), \(g.keyID), \(g.scope), \(Int64(g.version)),
                        \(g.createdAt.timeIntervalSince1970), \(g.updatedAt.timeIntervalSince1970))
                ON CONFLICT (secret, "user") DO UPDATE SET sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id,
                    scope = EXCLUDED.scope, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
                """, logger: logger)
            return true
        }
    }

    public func vaultGrant(secret: String, user: String) async throws -> VaultGrantRecord? {
        try await rows("read a user's grant for \(secret)", """
            SELECT secret, "user", sealed, key_id, scope, version, created_at, updated_at FROM vault_grants
            WHERE secret = \(secret) AND "user" = \(user)
            """).first.map(Self.grantRecord)
    }

    public func vaultGrants(secret: String?, user: String?) async throws -> [VaultGrantRecord] {
        try await rows("list users' grants", """
            SELECT secret, "user", sealed, key_id, scope, version, created_at, updated_at FROM vault_grants
            WHERE (\(secret)::text IS NULL OR secret = \(secret)) AND (\(user)::text IS NULL OR "user" = \(user))
            ORDER BY secret, "user"
            """).map(Self.grantRecord)
    }

    public func vaultDeleteGrant(secret: String, user: String) async throws -> Bool {
        try await !rows("delete a user's grant for \(secret)", """
            DELETE FROM vault_grants WHERE secret = \(secret) AND "user" = \(user) RETURNING 1
            """).isEmpty
    }

    static func vaultRecord(_ row: PostgresRow) throws -> VaultRecord {
        let (name, kind, sealed, keyID, metadata, version, created, updated, by) = try row.decode(
            (String, String, ByteBuffer, String, String, Int64, Double, Double, String).self)
        return VaultRecord(name: name, kind: kind, sealed: Array(sealed.readableBytesView), keyID: keyID,
                           metadata: try StoredJSON.decode([String: String].self, metadata, "vault_secrets.metadata"),
                           version: Int(version), createdAt: Date(timeIntervalSince1970: created),
                           updatedAt: Date(timeIntervalSince1970: updated), updatedBy: by)
    }

    static func grantRecord(_ row: PostgresRow) throws -> VaultGrantRecord {
        let (secret, user, sealed, keyID, scope, version, created, updated) = try row.decode(
            (String, String, ByteBuffer, String, String?, Int64, Double, Double).self)
        return VaultGrantRecord(secret: secret, user: user, sealed: Array(sealed.readableBytesView), keyID: keyID,
                                scope: scope, version: Int(version), createdAt: Date(timeIntervalSince1970: created),
                                updatedAt: Date(timeIntervalSince1970: updated))
    }
}
