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
    /// Replaces the key check and every record in one transaction (key rotation): either all are under the new
    /// key or none is. `expectedKeyID` guards against a concurrent rotation.
    func vaultRekey(_ records: [VaultRecord], check: VaultKeyCheck, expectedKeyID: String?) async throws
}
