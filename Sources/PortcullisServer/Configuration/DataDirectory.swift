public import Foundation
public import PortcullisIdentity
import Crypto
import PortcullisCore
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk state of one Portcullis node: database, signing key, admin token.
///
/// Created on first start with owner-only permissions; secrets are written 0600.
public struct DataDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var databasePath: String { path + "/portcullis.sqlite" }
    public var signingKeyPath: String { path + "/signing-key.jwk" }
    public var adminTokenPath: String { path + "/admin.token" }
    /// The token Prometheus presents at `/metrics` (read-only: it opens nothing else).
    public var metricsTokenPath: String { path + "/metrics.token" }

    /// Creates the directory (0700) if needed. An existing directory that others can read or enter
    /// is tightened to 0700 (with a warning returned), and its secret files to 0600; one owned by
    /// another user is refused.
    ///
    /// - Returns: warnings to log (what was tightened).
    @discardableResult
    public func prepare() throws -> [String] {
        var isDir: ObjCBool = false
        let fm = FileManager.default
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
            return []
        }
        guard isDir.boolValue else { throw ConfigurationError("data directory `\(path)` is a file") }
        var warnings: [String] = []
        let attributes = try fm.attributesOfItem(atPath: path)
        if let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value, owner != getuid() {
            throw ConfigurationError("data directory `\(path)` belongs to another user (uid \(owner)); refusing to keep secrets there")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
            warnings.append("data directory `\(path)` was accessible to others (mode \(String(mode, radix: 8))); set to 0700")
        }
        for secret in [signingKeyPath, adminTokenPath, metricsTokenPath, path + "/audit-key"] where fm.fileExists(atPath: secret) {
            let mode = ((try? fm.attributesOfItem(atPath: secret))?[.posixPermissions] as? NSNumber)?.intValue ?? 0
            if mode & 0o077 != 0 {
                try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secret)
                warnings.append("secret `\(secret)` was readable by others (mode \(String(mode, radix: 8))); set to 0600")
            }
        }
        return warnings
    }

    /// Loads the signing key, generating and persisting one on first start.
    public func signingKey(algorithm: SigningAlgorithm) throws -> SigningKey {
        if let data = FileManager.default.contents(atPath: signingKeyPath) {
            let key = try SigningKey(privateJWK: String(decoding: data, as: UTF8.self))
            return key
        }
        let key = SigningKey.generate(algorithm)
        try writeSecret(key.privateJWK, to: signingKeyPath)
        return key
    }

    /// Loads the bootstrap admin token, generating and persisting one on first start.
    public func adminToken() throws -> String {
        try bearerToken(at: adminTokenPath, prefix: "pcadm_", what: "admin token")
    }

    /// The metrics token, created on first start like the admin token.
    public func metricsToken() throws -> String {
        try bearerToken(at: metricsTokenPath, prefix: "pcmet_", what: "metrics token")
    }

    /// A bearer token kept in `path`: read, or generated (32 random bytes) and written 0600 on first start.
    private func bearerToken(at path: String, prefix: String, what: String) throws -> String {
        if let data = FileManager.default.contents(atPath: path) {
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 32 else { throw ConfigurationError("\(what) in `\(path)` is too short") }
            return token
        }
        let token = prefix + RandomToken.make(bytes: 32)
        try writeSecret(token + "\n", to: path)
        return token
    }

    /// Created 0600 from the first byte, written to a temporary file, fsynced and renamed into place.
    private func writeSecret(_ text: String, to file: String) throws {
        try DurableFile.replace(file, with: text, mode: 0o600)
    }
}

/// Random identifiers and secrets, base64url without padding.
public enum RandomToken {
    public static func make(bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &g) })
    }
}
