public import Foundation

/// One stored secret: the sealed value and what may be shown about it.
///
/// The value is sealed (AES-256-GCM) before it reaches a store, under the vault's key-encryption key; a store
/// never sees a secret in clear.
public struct VaultRecord: Sendable, Equatable {
    /// `[a-z0-9][a-z0-9._-]{0,63}`, referenced from configuration as `vault:<name>`.
    public var name: String
    /// What the secret is for (``VaultSecretKind``'s raw value).
    public var kind: String
    /// Nonce, ciphertext and tag (AES-GCM's combined form), with the name and kind as authenticated data.
    public var sealed: [UInt8]
    /// The key-encryption key it is sealed under (a fingerprint, never the key).
    public var keyID: String
    /// Parameters that are not secret (header name, token URL, client id, scope), shown by `vault list`.
    public var metadata: [String: String]
    /// Increases with every `put` of the same name.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var updatedBy: String

    public init(name: String, kind: String, sealed: [UInt8], keyID: String, metadata: [String: String], version: Int,
                createdAt: Date, updatedAt: Date, updatedBy: String) {
        self.name = name
        self.kind = kind
        self.sealed = sealed
        self.keyID = keyID
        self.metadata = metadata
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
    }
}

/// The vault's check value: a known plaintext sealed under the current key, so a wrong key is caught at start.
public struct VaultKeyCheck: Sendable, Equatable {
    public var keyID: String
    public var sealed: [UInt8]

    public init(keyID: String, sealed: [UInt8]) {
        self.keyID = keyID
        self.sealed = sealed
    }
}

/// A user's own grant for a per-user credential: the refresh token a user's consent produced, stored under
/// (secret, user) and sealed like any secret (the secret name and the user are its authenticated data).
public struct VaultGrantRecord: Sendable, Equatable {
    /// The `oauth_user` secret (the upstream's connection) the grant belongs to.
    public var secret: String
    /// The user (the `sub` of their identity provider, as in `on_behalf_of`).
    public var user: String
    public var sealed: [UInt8]
    public var keyID: String
    /// The scope the user granted, as the authorization server reported it (not secret).
    public var scope: String?
    /// Increases with every stored refresh token (a rotation by the authorization server included).
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(secret: String, user: String, sealed: [UInt8], keyID: String, scope: String?, version: Int,
                createdAt: Date, updatedAt: Date) {
        self.secret = secret
        self.user = user
        self.sealed = sealed
        self.keyID = keyID
        self.scope = scope
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Persistence of sealed secrets.
public protocol VaultStore: Sendable {
    /// Stores a secret, replacing one of the same name.
    func vaultPut(_ record: VaultRecord) async throws
    func vaultRecord(name: String) async throws -> VaultRecord?
    /// Every record, ordered by name.
    func vaultRecords() async throws -> [VaultRecord]
    /// Returns false when there was no such secret.
    func vaultDelete(name: String) async throws -> Bool
    func vaultKeyCheck() async throws -> VaultKeyCheck?
    /// Replaces the key check, every record and every user grant in one transaction (key rotation): either all
    /// are under the new key or none is. `expectedKeyID` guards against a concurrent rotation.
    func vaultRekey(_ records: [VaultRecord], grants: [VaultGrantRecord], check: VaultKeyCheck, expectedKeyID: String?)
        async throws

    /// Stores a user's grant, replacing the one for the same (secret, user). With `expectedVersion`, only when the
    /// stored grant still has that version (a refresh-token rotation racing a reconnect); returns whether stored.
    func vaultPutGrant(_ grant: VaultGrantRecord, expectedVersion: Int?) async throws -> Bool
    func vaultGrant(secret: String, user: String) async throws -> VaultGrantRecord?
    /// The grants of one secret (nil: of every secret), ordered by secret then user.
    func vaultGrants(secret: String?, user: String?) async throws -> [VaultGrantRecord]
    /// Returns false when there was no such grant.
    func vaultDeleteGrant(secret: String, user: String) async throws -> Bool
}
