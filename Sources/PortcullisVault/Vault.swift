import Crypto
public import Foundation
public import PortcullisCore
import Synchronization

/// A problem with the vault; the message never contains a secret.
public struct VaultError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The key is missing, malformed, or not the one the secrets are sealed under.
        case badKey = "bad_key"
        case notFound = "not_found"
        case invalidInput = "invalid_input"
        /// A sealed value failed authentication: tampered with, or moved to another name.
        case corrupt
        /// The upstream's authorization server refused or could not be reached.
        case credentialUnavailable = "credential_unavailable"
        /// A per-user credential was asked for by a call that acts for no user.
        case needsUser = "needs_user"
        /// The user in the delegation chain has not connected the per-user credential (or the connection ended).
        case notConnected = "not_connected"
        /// The authorization server refused a user's refresh token (`invalid_grant`).
        case grantRevoked = "grant_revoked"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A secret in clear, only inside the gateway, only for as long as a call needs it.
///
/// It prints as `[secret]`, so that string interpolation into a log or an error cannot leak it.
public struct SecretValue: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let fields: [String: String]

    public init(_ fields: [String: String]) { self.fields = fields }

    public subscript(_ field: String) -> String? { fields[field] }
    public var description: String { "[secret]" }
    public var debugDescription: String { "[secret]" }
}

/// What `vault list` shows of a secret: everything except its value.
public struct VaultEntry: Sendable, Equatable, Codable {
    public var name: String
    public var kind: String
    public var metadata: [String: String]
    public var version: Int
    public var keyID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var updatedBy: String
}

/// What may be shown of a user's grant for a per-user credential: everything except the refresh token.
public struct VaultGrantEntry: Sendable, Equatable, Codable {
    public var secret: String
    public var user: String
    public var scope: String?
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
}

/// Secrets sealed with AES-256-GCM under a key-encryption key that never enters the database.
///
/// Each value is sealed with the secret's name and kind as authenticated data, so a sealed value copied onto
/// another name (to make the gateway send one upstream's key to another) fails to open. Opening the vault checks
/// the key against a sealed check value first: a wrong key refuses to start instead of serving garbage.
public final class Vault: Sendable {
    let store: any VaultStore
    private let key: Mutex<VaultKey>
    let clock: @Sendable () -> Date

    static let checkPlaintext = Array("portcullis vault key check v1".utf8)

    /// The fingerprint of the key in use.
    public var keyID: String { key.withLock { $0.id } }

    private init(store: any VaultStore, key: VaultKey, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.key = Mutex(key)
        self.clock = clock
    }

    /// Opens the vault with `key`; a store with secrets under another key refuses.
    ///
    /// - Parameter previous: The key before a rotation that was interrupted (the new key file was written but the
    ///   database not yet re-keyed, or the other way round): when the check opens with it, every secret is re-keyed
    ///   to `key` now.
    public static func open(store: any VaultStore, key: VaultKey, previous: VaultKey? = nil,
                            clock: @escaping @Sendable () -> Date = Date.init) async throws -> Vault {
        let vault = Vault(store: store, key: key, clock: clock)
        guard let check = try await store.vaultKeyCheck() else {
            // A new vault: any secret already stored would be under an unknown key.
            let records = try await store.vaultRecords()
            guard records.isEmpty else {
                throw VaultError(.badKey, "the vault holds \(records.count) secret(s) but no key check; refusing to start")
            }
            try await store.vaultRekey([], grants: [], check: VaultKeyCheck(keyID: key.id, sealed: try seal(checkPlaintext, key: key, aad: "check")),
                                       expectedKeyID: nil)
            return vault
        }
        if check.keyID == key.id, (try? open(check.sealed, key: key, aad: "check")) == checkPlaintext {
            return vault
        }
        if let previous, check.keyID == previous.id, (try? open(check.sealed, key: previous, aad: "check")) == checkPlaintext {
            try await vault.rekey(from: previous, to: key)
            return vault
        }
        throw VaultError(.badKey, "the vault key (\(key.id)) is not the key the secrets are sealed under (\(check.keyID)); refusing to start rather than serve undecryptable credentials")
    }

    // MARK: - Secrets

    /// The allowed secret names: referenced as `vault:<name>`.
    public static func validate(name: String) throws(VaultError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard let first = name.first, first.isLetter || first.isNumber, name.count <= 64, name.allSatisfy(allowed.contains) else {
            throw VaultError(.invalidInput, "a vault secret name is 1-64 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit")
        }
    }

    /// Stores (or replaces) a secret. Returns what may be shown of it.
    @discardableResult
    public func put(name: String, kind: VaultSecretKind, metadata: [String: String], secret: SecretValue, by: String)
        async throws -> VaultEntry
    {
        try Self.validate(name: name)
        try kind.validate(metadata: metadata, secret: secret)
        let existing = try await store.vaultRecord(name: name)
        let now = clock()
        let key = key.withLock { $0 }
        let plaintext = try Self.encode(secret)
        let record = VaultRecord(name: name, kind: kind.rawValue,
                                 sealed: try Self.seal(plaintext, key: key, aad: Self.aad(name: name, kind: kind.rawValue)),
                                 keyID: key.id, metadata: metadata, version: (existing?.version ?? 0) + 1,
                                 createdAt: existing?.createdAt ?? now, updatedAt: now, updatedBy: by)
        try await store.vaultPut(record)
        return Self.entry(record)
    }

    /// A new value for an existing secret, keeping its kind and parameters.
    @discardableResult
    public func rotate(name: String, secret: SecretValue, by: String) async throws -> VaultEntry {
        guard let existing = try await store.vaultRecord(name: name) else {
            throw VaultError(.notFound, "no vault secret named `\(name)`")
        }
        guard let kind = VaultSecretKind(rawValue: existing.kind) else {
            throw VaultError(.corrupt, "vault secret `\(name)` has an unknown kind `\(existing.kind)`")
        }
        return try await put(name: name, kind: kind, metadata: existing.metadata, secret: secret, by: by)
    }

    public func delete(name: String) async throws {
        guard try await store.vaultDelete(name: name) else { throw VaultError(.notFound, "no vault secret named `\(name)`") }
    }

    /// Every secret's metadata; never a value.
    public func list() async throws -> [VaultEntry] {
        try await store.vaultRecords().map(Self.entry)
    }

    public func entry(name: String) async throws -> VaultEntry? {
        try await store.vaultRecord(name: name).map(Self.entry)
    }

    /// The secret in clear, with its kind and parameters: for the gateway's credential injection only.
    public func reveal(name: String) async throws
        -> (kind: VaultSecretKind, metadata: [String: String], secret: SecretValue, version: Int)
    {
        guard let record = try await store.vaultRecord(name: name) else {
            throw VaultError(.notFound, "no vault secret named `\(name)`")
        }
        guard let kind = VaultSecretKind(rawValue: record.kind) else {
            throw VaultError(.corrupt, "vault secret `\(name)` has an unknown kind `\(record.kind)`")
        }
        let key = key.withLock { $0 }
        guard record.keyID == key.id else {
            throw VaultError(.badKey, "vault secret `\(name)` is sealed under key \(record.keyID), not the key in use")
        }
        let plaintext: [UInt8]
        do {
            plaintext = try Self.open(record.sealed, key: key, aad: Self.aad(name: name, kind: record.kind))
        } catch {
            throw VaultError(.corrupt, "vault secret `\(name)` does not open under the vault key: it was altered or moved")
        }
        return (kind, record.metadata, try Self.decode(plaintext, name: name), record.version)
    }

    // MARK: - Users' grants (per-user credentials)

    /// Stores the refresh token a user's consent produced for the `oauth_user` secret `secret`.
    ///
    /// - Parameter expectedVersion: Store only if the grant still has this version (a rotated refresh token must not
    ///   overwrite a reconnect that happened meanwhile). Nil stores unconditionally (a new consent).
    /// - Returns: Whether it was stored.
    @discardableResult
    public func putGrant(secret: String, user: String, refreshToken: String, scope: String?, expectedVersion: Int? = nil)
        async throws -> Bool
    {
        guard !user.isEmpty, user.utf8.count <= 256 else { throw VaultError(.invalidInput, "a grant needs a user (at most 256 bytes)") }
        guard let record = try await store.vaultRecord(name: secret), record.kind == VaultSecretKind.oauthUser.rawValue else {
            throw VaultError(.notFound, "no per-user (`oauth_user`) vault secret named `\(secret)`")
        }
        let existing = try await store.vaultGrant(secret: secret, user: user)
        let now = clock()
        let key = key.withLock { $0 }
        let sealed = try Self.seal(try Self.encode(SecretValue(["refresh_token": refreshToken])), key: key,
                                   aad: Self.grantAAD(secret: secret, user: user))
        let grant = VaultGrantRecord(secret: secret, user: user, sealed: sealed, keyID: key.id, scope: scope,
                                     version: (existing?.version ?? 0) + 1, createdAt: existing?.createdAt ?? now,
                                     updatedAt: now)
        return try await store.vaultPutGrant(grant, expectedVersion: expectedVersion)
    }

    /// A user's refresh token for `secret`, in clear (for the credential injector only); nil when the user has not
    /// connected.
    public func revealGrant(secret: String, user: String) async throws -> (refreshToken: String, version: Int)? {
        guard let grant = try await store.vaultGrant(secret: secret, user: user) else { return nil }
        let key = key.withLock { $0 }
        guard grant.keyID == key.id,
              let plaintext = try? Self.open(grant.sealed, key: key, aad: Self.grantAAD(secret: secret, user: user)) else {
            throw VaultError(.corrupt, "the grant of a user for `\(secret)` does not open under the vault key: it was altered or moved")
        }
        guard let token = try Self.decode(plaintext, name: secret)["refresh_token"], !token.isEmpty else {
            throw VaultError(.corrupt, "the grant of a user for `\(secret)` holds no refresh token")
        }
        return (token, grant.version)
    }

    /// What may be shown of users' grants (never a token).
    public func grants(secret: String? = nil, user: String? = nil) async throws -> [VaultGrantEntry] {
        try await store.vaultGrants(secret: secret, user: user).map {
            VaultGrantEntry(secret: $0.secret, user: $0.user, scope: $0.scope, version: $0.version, createdAt: $0.createdAt,
                            updatedAt: $0.updatedAt)
        }
    }

    /// Returns false when the user had no grant for `secret`.
    @discardableResult
    public func deleteGrant(secret: String, user: String) async throws -> Bool {
        try await store.vaultDeleteGrant(secret: secret, user: user)
    }

    // MARK: - Key rotation

    /// Re-seals every secret under `newKey` in one transaction; afterwards only `newKey` opens the vault.
    /// Calls in flight keep working: the key in use switches only once the database is re-keyed.
    public func rotateKey(to newKey: VaultKey) async throws {
        let old = key.withLock { $0 }
        try await rekey(from: old, to: newKey)
    }

    private func rekey(from old: VaultKey, to new: VaultKey) async throws {
        var records = try await store.vaultRecords()
        var grants = try await store.vaultGrants(secret: nil, user: nil)
        for i in grants.indices {
            let aad = Self.grantAAD(secret: grants[i].secret, user: grants[i].user)
            guard let plaintext = try? Self.open(grants[i].sealed, key: old, aad: aad) else {
                throw VaultError(.corrupt, "a user's grant for `\(grants[i].secret)` does not open under the old key; nothing was re-keyed")
            }
            grants[i].sealed = try Self.seal(plaintext, key: new, aad: aad)
            grants[i].keyID = new.id
        }
        for i in records.indices {
            let aad = Self.aad(name: records[i].name, kind: records[i].kind)
            let plaintext: [UInt8]
            do {
                plaintext = try Self.open(records[i].sealed, key: old, aad: aad)
            } catch {
                throw VaultError(.corrupt, "vault secret `\(records[i].name)` does not open under the old key; nothing was re-keyed")
            }
            records[i].sealed = try Self.seal(plaintext, key: new, aad: aad)
            records[i].keyID = new.id
        }
        let check = VaultKeyCheck(keyID: new.id, sealed: try Self.seal(Self.checkPlaintext, key: new, aad: "check"))
        try await store.vaultRekey(records, grants: grants, check: check, expectedKeyID: old.id)
        key.withLock { $0 = new }
    }

    // MARK: - Sealing

    static func aad(name: String, kind: String) -> String { "portcullis vault v1\nname=\(name)\nkind=\(kind)" }
    /// A grant is bound to its secret and its user: copied onto another user's row, it fails to open.
    static func grantAAD(secret: String, user: String) -> String { "portcullis vault grant v1\nsecret=\(secret)\nuser=\(user)" }

    static func seal(_ plaintext: [UInt8], key: VaultKey, aad: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key.key, authenticating: Array(aad.utf8))
        guard let combined = box.combined else { throw VaultError(.corrupt, "AES-GCM produced no combined form") }
        return [UInt8](combined)
    }

    static func open(_ sealed: [UInt8], key: VaultKey, aad: String) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return [UInt8](try AES.GCM.open(box, using: key.key, authenticating: Array(aad.utf8)))
    }

    static func encode(_ secret: SecretValue) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return [UInt8](try encoder.encode(secret.fields))
    }

    static func decode(_ plaintext: [UInt8], name: String) throws -> SecretValue {
        guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(plaintext)) else {
            throw VaultError(.corrupt, "vault secret `\(name)` opened but is not a secret record")
        }
        return SecretValue(fields)
    }

    static func entry(_ r: VaultRecord) -> VaultEntry {
        VaultEntry(name: r.name, kind: r.kind, metadata: r.metadata, version: r.version, keyID: r.keyID,
                   createdAt: r.createdAt, updatedAt: r.updatedAt, updatedBy: r.updatedBy)
    }
}
