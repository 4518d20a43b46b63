public import Foundation
import GRDB
public import PortcullisCore

extension SQLiteStore: VaultStore {
    public func vaultPut(_ r: VaultRecord) async throws {
        try await write("store vault secret \(r.name)") { db in
            // An upsert, not INSERT OR REPLACE: a replace deletes the row first, which would cascade to users' grants.
            try db.execute(sql: """
                INSERT INTO vault_secrets (name, kind, sealed, key_id, metadata, version, created_at, updated_at,
                    updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, sealed = excluded.sealed, key_id = excluded.key_id,
                    metadata = excluded.metadata, version = excluded.version, created_at = excluded.created_at,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """, arguments: [r.name, r.kind, Data(r.sealed), r.keyID, try Self.encodeMetadata(r.metadata), r.version,
                                 r.createdAt.timeIntervalSince1970, r.updatedAt.timeIntervalSince1970, r.updatedBy])
        }
    }

    public func vaultRecord(name: String) async throws -> VaultRecord? {
        try await read("read vault secret \(name)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM vault_secrets WHERE name = ?", arguments: [name]).map(Self.vaultRecord)
        }
    }

    public func vaultRecords() async throws -> [VaultRecord] {
        try await read("list vault secrets") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM vault_secrets ORDER BY name").map(Self.vaultRecord)
        }
    }

    public func vaultDelete(name: String) async throws -> Bool {
        try await write("delete vault secret \(name)") { db in
            try db.execute(sql: "DELETE FROM vault_secrets WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func vaultKeyCheck() async throws -> VaultKeyCheck? {
        try await read("read the vault key check") { db in
            try Row.fetchOne(db, sql: "SELECT key_id, check_sealed FROM vault_meta WHERE id = 1").map {
                VaultKeyCheck(keyID: $0["key_id"], sealed: [UInt8]($0["check_sealed"] as Data))
            }
        }
    }

    public func vaultRekey(_ records: [VaultRecord], grants: [VaultGrantRecord], check: VaultKeyCheck,
                           expectedKeyID: String?) async throws {
        try await write("re-key the vault") { db in
            let current = try String.fetchOne(db, sql: "SELECT key_id FROM vault_meta WHERE id = 1")
            guard current == expectedKeyID else {
                throw PortcullisError(.concurrentUpdate, "the vault key changed meanwhile (another rotation?); nothing was changed")
            }
            try db.execute(sql: "INSERT OR REPLACE INTO vault_meta (id, key_id, check_sealed) VALUES (1, ?, ?)",
                           arguments: [check.keyID, Data(check.sealed)])
            for r in records {
                try db.execute(sql: "UPDATE vault_secrets SET sealed = ?, key_id = ? WHERE name = ?",
                               arguments: [Data(r.sealed), r.keyID, r.name])
                guard db.changesCount == 1 else {
                    throw PortcullisError(.concurrentUpdate, "vault secret \(r.name) changed during the rotation; nothing was changed")
                }
            }
            for g in grants {
                try db.execute(sql: "UPDATE vault_grants SET sealed = ?, key_id = ? WHERE secret = ? AND user = ? AND version = ?",
                               arguments: [Data(g.sealed), g.keyID, g.secret, g.user, g.version])
                guard db.changesCount == 1 else {
                    throw PortcullisError(.concurrentUpdate, "a user's grant for \(g.secret) changed during the rotation; nothing was changed")
                }
            }
            let stale = try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM vault_secrets WHERE key_id != ?1) + (SELECT count(*) FROM vault_grants WHERE key_id != ?1)
                """, arguments: [check.keyID]) ?? 0
            guard stale == 0 else {
                throw PortcullisError(.concurrentUpdate, "\(stale) vault secret(s) or grant(s) were stored during the rotation; nothing was changed")
            }
        }
    }

    public func vaultPutGrant(_ g: VaultGrantRecord, expectedVersion: Int?) async throws -> Bool {
        try await write("store a user's grant for \(g.secret)") { db in
            if let expectedVersion {
                let current = try Int.fetchOne(db, sql: "SELECT version FROM vault_grants WHERE secret = ? AND user = ?",
                                               arguments: [g.secret, g.user])
                guard current == expectedVersion else { return false }
            }
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM vault_secrets WHERE name = ?", arguments: [g.secret]) != nil else {
                throw PortcullisError(.notFound, "no vault secret named `\(g.secret)`")
            }
            try db.execute(sql: """
                INSERT INTO vault_grants (secret, user, sealed, key_id, scope, version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(secret, user) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id,
                    scope = excluded.scope, version = excluded.version, updated_at = excluded.updated_at
                """, arguments: [g.secret, g.user, Data(g.sealed), g.keyID, g.scope, g.version,
                                 g.createdAt.timeIntervalSince1970, g.updatedAt.timeIntervalSince1970])
            return true
        }
    }

    public func vaultGrant(secret: String, user: String) async throws -> VaultGrantRecord? {
        try await read("read a user's grant for \(secret)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM vault_grants WHERE secret = ? AND user = ?",
                             arguments: [secret, user]).map(Self.grantRecord)
        }
    }

    public func vaultGrants(secret: String?, user: String?) async throws -> [VaultGrantRecord] {
        try await read("list users' grants") { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM vault_grants WHERE (?1 IS NULL OR secret = ?1) AND (?2 IS NULL OR user = ?2)
                ORDER BY secret, user
                """, arguments: [secret, user]).map(Self.grantRecord)
        }
    }

    public func vaultDeleteGrant(secret: String, user: String) async throws -> Bool {
        try await write("delete a user's grant for \(secret)") { db in
            try db.execute(sql: "DELETE FROM vault_grants WHERE secret = ? AND user = ?", arguments: [secret, user])
            return db.changesCount > 0
        }
    }

    static func grantRecord(_ row: Row) -> VaultGrantRecord {
        VaultGrantRecord(secret: row["secret"], user: row["user"], sealed: [UInt8](row["sealed"] as Data),
                         keyID: row["key_id"], scope: row["scope"], version: row["version"],
                         createdAt: Date(timeIntervalSince1970: row["created_at"]),
                         updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    static func encodeMetadata(_ metadata: [String: String]) throws -> String { try StoredJSON.encode(metadata) }

    static func decodeMetadata(_ text: String) throws -> [String: String] {
        try StoredJSON.decode([String: String].self, text, "vault_secrets.metadata")
    }

    static func vaultRecord(_ row: Row) throws -> VaultRecord {
        VaultRecord(name: row["name"], kind: row["kind"], sealed: [UInt8](row["sealed"] as Data), keyID: row["key_id"],
                    metadata: try decodeMetadata(row["metadata"]), version: row["version"],
                    createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    updatedAt: Date(timeIntervalSince1970: row["updated_at"]), updatedBy: row["updated_by"])
    }
}
