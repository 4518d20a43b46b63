import Foundation
import PortcullisCore
import Testing

/// The vault's persistence, the same on every store (the sealing itself is tested in PortcullisVaultTests).
@Suite("Vault store (SQLite and PostgreSQL)")
struct VaultStoreTests {
    static func secret(_ name: String, version: Int = 1, key: String = "k1", bytes: [UInt8] = [1, 2, 3, 0, 255]) -> VaultRecord {
        VaultRecord(name: name, kind: "oauth_user", sealed: bytes, keyID: key, metadata: ["token_url": "https://as/token", "é": "🚀"],
                    version: version, createdAt: Date(timeIntervalSince1970: 100), updatedAt: Date(timeIntervalSince1970: 100.5),
                    updatedBy: "admin:alice")
    }

    static func grant(_ secret: String, _ user: String, version: Int = 1, key: String = "k1") -> VaultGrantRecord {
        VaultGrantRecord(secret: secret, user: user, sealed: [9, 8, 7], keyID: key, scope: version == 1 ? nil : "read",
                         version: version, createdAt: Date(timeIntervalSince1970: 200), updatedAt: Date(timeIntervalSince1970: 200))
    }

    @Test("secrets round-trip byte for byte; an upsert keeps users' grants; deleting a secret deletes its grants",
          arguments: StoreKind.allCases)
    func secretsAndGrants(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let a = Self.secret("crm"), b = Self.secret("mail")
        try await store.vaultPut(b)
        try await store.vaultPut(a)
        #expect(try await store.vaultRecord(name: "crm") == a)
        #expect(try await store.vaultRecords().map(\.name) == ["crm", "mail"])
        #expect(try await store.vaultPutGrant(Self.grant("crm", "alice"), expectedVersion: nil))
        #expect(try await store.vaultPutGrant(Self.grant("crm", "bob"), expectedVersion: nil))
        #expect(try await store.vaultPutGrant(Self.grant("mail", "alice"), expectedVersion: nil))
        // A grant for a secret that does not exist is refused.
        let missing = await #expect(throws: PortcullisError.self) {
            try await store.vaultPutGrant(Self.grant("nope", "alice"), expectedVersion: nil)
        }
        #expect(missing?.code == .notFound)
        // Replacing the secret (a new version) keeps its grants.
        try await store.vaultPut(Self.secret("crm", version: 2))
        #expect(try await store.vaultRecord(name: "crm")?.version == 2)
        #expect(try await store.vaultGrants(secret: "crm", user: nil).map(\.user) == ["alice", "bob"])
        #expect(try await store.vaultGrants(secret: nil, user: "alice").map(\.secret) == ["crm", "mail"])
        // Compare-and-set on the grant's version: a stale rotation is not stored.
        #expect(try await store.vaultPutGrant(Self.grant("crm", "alice", version: 2), expectedVersion: 1))
        #expect(try await !store.vaultPutGrant(Self.grant("crm", "alice", version: 3), expectedVersion: 1))
        #expect(try await store.vaultGrant(secret: "crm", user: "alice") == Self.grant("crm", "alice", version: 2))
        #expect(try await store.vaultDeleteGrant(secret: "crm", user: "bob"))
        #expect(try await !store.vaultDeleteGrant(secret: "crm", user: "bob"))
        #expect(try await store.vaultDelete(name: "crm"))
        #expect(try await !store.vaultDelete(name: "crm"))
        #expect(try await store.vaultGrants(secret: "crm", user: nil).isEmpty)
        #expect(try await store.vaultGrants(secret: nil, user: nil).map(\.secret) == ["mail"])
    }

    @Test("re-keying is all or nothing, and only from the key it started from", arguments: StoreKind.allCases)
    func rekey(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        #expect(try await store.vaultKeyCheck() == nil)
        try await store.vaultPut(Self.secret("crm"))
        #expect(try await store.vaultPutGrant(Self.grant("crm", "alice"), expectedVersion: nil))
        let first = VaultKeyCheck(keyID: "k1", sealed: [1, 1])
        try await store.vaultRekey([], grants: [], check: first, expectedKeyID: nil)
        #expect(try await store.vaultKeyCheck() == first)
        // A rotation that forgets a grant leaves it under the old key: refused, nothing changed.
        let second = VaultKeyCheck(keyID: "k2", sealed: [2, 2])
        await #expect(throws: PortcullisError.self) {
            try await store.vaultRekey([Self.secret("crm", key: "k2", bytes: [7])], grants: [], check: second, expectedKeyID: "k1")
        }
        #expect(try await store.vaultKeyCheck() == first)
        #expect(try await store.vaultRecord(name: "crm")?.keyID == "k1")
        // From a key that is no longer current: refused.
        let stale = await #expect(throws: PortcullisError.self) {
            try await store.vaultRekey([], grants: [], check: second, expectedKeyID: "k0")
        }
        #expect(stale?.code == .concurrentUpdate)
        // The whole rotation goes through.
        try await store.vaultRekey([Self.secret("crm", key: "k2", bytes: [7])], grants: [Self.grant("crm", "alice", key: "k2")],
                                   check: second, expectedKeyID: "k1")
        #expect(try await store.vaultKeyCheck() == second)
        #expect(try await store.vaultRecord(name: "crm")?.sealed == [7])
        #expect(try await store.vaultGrant(secret: "crm", user: "alice")?.keyID == "k2")
    }
}
