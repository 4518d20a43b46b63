public import Foundation
public import PortcullisIdentity
import Crypto

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

    /// Creates the directory (0700) if needed.
    public func prepare() throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ConfigurationError("data directory `\(path)` is a file") }
            return
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
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
        if let data = FileManager.default.contents(atPath: adminTokenPath) {
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 32 else { throw ConfigurationError("admin token in `\(adminTokenPath)` is too short") }
            return token
        }
        let token = "pcadm_" + RandomToken.make(bytes: 32)
        try writeSecret(token + "\n", to: adminTokenPath)
        return token
    }

    private func writeSecret(_ text: String, to file: String) throws {
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write `\(file)`")
        }
        // createFile honours the umask; set the mode explicitly.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
    }
}

/// Random identifiers and secrets, base64url without padding.
public enum RandomToken {
    public static func make(bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &g) })
    }
}
