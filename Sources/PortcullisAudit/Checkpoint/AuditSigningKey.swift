import Crypto
import Foundation
import PortcullisCore

/// The log's checkpoint key on disk: an Ed25519 key in signed-note text form, mode 0600.
public enum AuditSigningKey {
    /// Loads the key at `path`, or creates one (named `portcullis.audit/<random>`) on first start.
    ///
    /// - Throws: ``AuditError`` when the file cannot be read, written or parsed.
    public static func loadOrCreate(path: String) throws -> NoteSigner {
        if let data = FileManager.default.contents(atPath: path) {
            return try NoteSigner(encoded: String(decoding: data, as: UTF8.self))
        }
        let suffix = Hex.random(8)
        let signer = try NoteSigner(name: "portcullis.audit/\(suffix)", key: Curve25519.Signing.PrivateKey())
        try DurableFile.replace(path, with: signer.encoded + "\n", mode: 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return signer
    }

    /// Loads an existing key.
    public static func load(path: String) throws -> NoteSigner {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AuditError(.storage, "cannot read the audit key `\(path)`")
        }
        return try NoteSigner(encoded: String(decoding: data, as: UTF8.self))
    }
}
