import Crypto
import Foundation
import PortcullisAudit
import Testing

@Suite("Signed notes and checkpoints (C2SP)")
struct SignedNoteTests {
    // The example key and note of the Go reference implementation (golang.org/x/mod/sumdb/note).
    static let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let signed = text + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test("the reference key, key hash and signature are reproduced byte for byte")
    func reference() throws {
        let signer = try NoteSigner(encoded: Self.skey)
        #expect(signer.name == "PeterNeumann")
        #expect(String(format: "%08x", signer.keyID) == "c74f20a3")
        #expect(signer.verifierKey == Self.vkey)
        #expect(signer.encoded == Self.skey)
        #expect(try signer.sign(Self.text).serialized == Self.signed)
        let verifier = try NoteVerifier(verifierKey: Self.vkey)
        #expect(verifier.verifies(try SignedNote(parsing: Self.signed)))
    }

    @Test("an altered text, signature, name or key hash does not verify")
    func tampering() throws {
        let verifier = try NoteVerifier(verifierKey: Self.vkey)
        let alteredText = Self.signed.replacingOccurrences(of: "cryptography", with: "cryptographie")
        #expect(!verifier.verifies(try SignedNote(parsing: alteredText)))
        let alteredSig = Self.signed.replacingOccurrences(of: "x08go", with: "x08gp")
        #expect(!verifier.verifies(try SignedNote(parsing: alteredSig)))
        let otherName = Self.signed.replacingOccurrences(of: "— PeterNeumann", with: "— PeterNeuman")
        #expect(!verifier.verifies(try SignedNote(parsing: otherName)))
        let otherKey = try NoteSigner(name: "PeterNeumann", key: Curve25519.Signing.PrivateKey())
        #expect(!verifier.verifies(try otherKey.sign(Self.text)))
        #expect(throws: AuditError.self) { try NoteVerifier(verifierKey: "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW") }
        #expect(throws: AuditError.self) { try SignedNote(parsing: Self.text) }
    }

    @Test("a checkpoint's text has origin, size and base64 root, and parses back")
    func checkpoint() throws {
        let root = [UInt8](repeating: 0xAB, count: 32)
        let c = Checkpoint(origin: "portcullis.audit/test", size: 42, rootHash: root)
        #expect(c.text == "portcullis.audit/test\n42\n" + Data(root).base64EncodedString() + "\n")
        #expect(try Checkpoint(text: c.text) == c)
        let signer = try NoteSigner(name: "portcullis.audit/test", key: Curve25519.Signing.PrivateKey())
        let note = try signer.sign(c.text)
        let parsed = try SignedCheckpoint(parsing: note.serialized)
        #expect(parsed.checkpoint == c)
        #expect(signer.verifier.verifies(parsed.note))
        #expect(throws: AuditError.self) { try Checkpoint(text: "origin\n042\n" + Data(root).base64EncodedString() + "\n") }
    }
}
