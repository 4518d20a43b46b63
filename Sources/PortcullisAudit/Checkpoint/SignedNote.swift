public import Crypto
public import Foundation

/// A signed note (C2SP signed-note): UTF-8 text ending in a newline, a blank line, then
/// signature lines `— <name> <base64(key hash || signature)>`.
///
/// Only Ed25519 keys (signature type 0x01) are produced and checked here. The key hash is
/// the first four bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian.
public struct SignedNote: Sendable, Equatable {
    /// One signature line.
    public struct Signature: Sendable, Equatable {
        public var name: String
        public var keyID: UInt32
        public var signature: [UInt8]
    }

    /// The signed text, including its final newline.
    public var text: String
    public var signatures: [Signature]

    /// Parses a signed note; the text and every signature line must be well formed.
    ///
    /// - Throws: ``AuditError`` with code `.malformed` for anything else.
    public init(parsing note: String) throws {
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw AuditError(.malformed, "a signed note needs a blank line before its signatures")
        }
        let text = String(note[note.startIndex..<note.index(after: split.lowerBound)])
        let block = note[split.upperBound...]
        guard block.hasSuffix("\n") else { throw AuditError(.malformed, "a signed note must end with a newline") }
        var signatures: [Signature] = []
        for line in block.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "—", !parts[1].isEmpty,
                  let raw = Data(base64Encoded: String(parts[2])), raw.count > 4 else {
                throw AuditError(.malformed, "malformed signature line `\(line)`")
            }
            let bytes = [UInt8](raw)
            let keyID = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(parts[1]), keyID: keyID, signature: Array(bytes[4...])))
        }
        guard !signatures.isEmpty else { throw AuditError(.malformed, "a signed note needs at least one signature") }
        self.text = text
        self.signatures = signatures
    }

    init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note in its text form.
    public var serialized: String {
        var out = text + "\n"
        for s in signatures {
            let bytes = withUnsafeBytes(of: s.keyID.bigEndian) { Array($0) } + s.signature
            out += "— \(s.name) \(Data(bytes).base64EncodedString())\n"
        }
        return out
    }

    /// The key hash of an Ed25519 key named `name`.
    public static func keyID(name: String, publicKey: [UInt8]) -> UInt32 {
        var input = Array(name.utf8)
        input.append(0x0A)
        input.append(0x01)
        input.append(contentsOf: publicKey)
        let digest = Array(SHA256.hash(data: input))
        return digest[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// Checks that a key name is usable: non-empty, no whitespace and no `+`.
    static func validate(name: String) throws {
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "+" }) else {
            throw AuditError(.malformed, "a signed-note key name must be non-empty without spaces or `+`")
        }
    }
}

/// An Ed25519 note signer: a key name and a private key.
public struct NoteSigner: Sendable {
    public let name: String
    let key: Curve25519.Signing.PrivateKey

    /// Wraps an Ed25519 private key under `name`.
    public init(name: String, key: Curve25519.Signing.PrivateKey) throws {
        try SignedNote.validate(name: name)
        self.name = name
        self.key = key
    }

    /// Reads a signer key in the signed-note text form `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`.
    public init(encoded: String) throws {
        let parts = encoded.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
              let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == 0x01,
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst()) else {
            throw AuditError(.malformed, "not an Ed25519 signed-note private key")
        }
        try self.init(name: String(parts[2]), key: key)
        guard String(parts[3]) == String(format: "%08x", keyID) else {
            throw AuditError(.malformed, "the private key's hash does not match its name and key")
        }
    }

    /// The key hash (C2SP signed-note).
    public var keyID: UInt32 { SignedNote.keyID(name: name, publicKey: [UInt8](key.publicKey.rawRepresentation)) }

    /// The private key in signed-note text form (a secret).
    public var encoded: String {
        "PRIVATE+KEY+\(name)+\(String(format: "%08x", keyID))+"
            + Data([0x01] + [UInt8](key.rawRepresentation)).base64EncodedString()
    }

    /// The verifier key `<name>+<hash>+<base64(0x01 || public key)>`, for witnesses and `audit verify --vkey`.
    public var verifierKey: String {
        "\(name)+\(String(format: "%08x", keyID))+"
            + Data([0x01] + [UInt8](key.publicKey.rawRepresentation)).base64EncodedString()
    }

    /// The matching verifier.
    public var verifier: NoteVerifier {
        NoteVerifier(name: name, publicKey: key.publicKey)
    }

    /// Signs `text` (which must end in a newline) and returns the signed note.
    public func sign(_ text: String) throws -> SignedNote {
        guard text.hasSuffix("\n") else { throw AuditError(.malformed, "a note's text must end with a newline") }
        let signature: Data
        do {
            signature = try key.signature(for: Data(text.utf8))
        } catch {
            throw AuditError(.signing, "cannot sign the note: \(error)")
        }
        return SignedNote(text: text, signatures: [.init(name: name, keyID: keyID, signature: [UInt8](signature))])
    }
}

/// An Ed25519 note verifier: a key name and a public key.
public struct NoteVerifier: Sendable {
    public let name: String
    public let publicKey: Curve25519.Signing.PublicKey

    public init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Reads a verifier key `<name>+<hash>+<base64(0x01 || public key)>`; the hash must match.
    public init(verifierKey: String) throws {
        let parts = verifierKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst()) else {
            throw AuditError(.malformed, "not an Ed25519 signed-note verifier key")
        }
        try SignedNote.validate(name: String(parts[0]))
        self.init(name: String(parts[0]), publicKey: key)
        guard String(parts[1]) == String(format: "%08x", keyID) else {
            throw AuditError(.malformed, "the verifier key's hash does not match its name and key")
        }
    }

    /// The key hash (C2SP signed-note).
    public var keyID: UInt32 { SignedNote.keyID(name: name, publicKey: [UInt8](publicKey.rawRepresentation)) }

    /// The verifier key in text form.
    public var verifierKey: String {
        "\(name)+\(String(format: "%08x", keyID))+" + Data([0x01] + [UInt8](publicKey.rawRepresentation)).base64EncodedString()
    }

    /// Whether the note carries a valid signature by this key (matched by name and key hash).
    public func verifies(_ note: SignedNote) -> Bool {
        let id = keyID
        return note.signatures.contains { s in
            s.name == name && s.keyID == id && s.signature.count == 64
                && publicKey.isValidSignature(s.signature, for: Data(note.text.utf8))
        }
    }
}
