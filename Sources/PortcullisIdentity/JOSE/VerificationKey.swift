import Crypto
import Foundation
import PortcullisCore

/// A public key that checks ES256 or EdDSA signatures, read from a JWK.
///
/// Signatures are checked with swift-crypto directly, after explicit shape
/// checks: an ES256 signature must be exactly 64 bytes (`r || s`, RFC 7518
/// §3.4), never DER, and both `r` and `s` must lie in `[1, n-1]` — the check
/// whose absence let `r = s = 0` pass everywhere in CVE-2022-21449. BoringSSL
/// refuses those too; we do not depend on it.
enum VerificationKey: Sendable {
    case p256(P256.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)

    /// JWK members that hold private key material, in any key type (RFC 7518 §6).
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// The algorithm this key verifies.
    var algorithm: SigningAlgorithm {
        switch self {
        case .p256: .es256
        case .ed25519: .eddsa
        }
    }

    /// Reads a public EC P-256 or OKP Ed25519 JWK; a JWK with private members is refused.
    ///
    /// A JWK `alg`, when present, must agree with the key type; `use`, when
    /// present, must be `sig`.
    init(jwk: [String: JSONAny]) throws(JOSEFailure) {
        for member in Self.privateMembers where jwk[member] != nil {
            throw JOSEFailure("jwk contains private key material (\(member))")
        }
        let kty = try jwk.string("kty")
        let crv = try jwk.string("crv")
        switch (kty, crv) {
        case ("EC", "P-256"):
            let x = try Self.coordinate(jwk, "x", length: 32)
            let y = try Self.coordinate(jwk, "y", length: 32)
            do {
                self = .p256(try P256.Signing.PublicKey(rawRepresentation: x + y))
            } catch {
                throw JOSEFailure("jwk is not a point on P-256")
            }
        case ("OKP", "Ed25519"):
            let x = try Self.coordinate(jwk, "x", length: 32)
            do {
                self = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: x))
            } catch {
                throw JOSEFailure("jwk is not an Ed25519 public key")
            }
        default:
            throw JOSEFailure(
                "jwk type \(printable(kty ?? "?"))/\(printable(crv ?? "?")) is not supported (EC P-256 or OKP Ed25519)")
        }
        if let alg = try jwk.string("alg"), !sameBytes(alg, algorithm.rawValue) {
            throw JOSEFailure("jwk alg \(printable(alg)) does not fit its key type")
        }
        if let use = try jwk.string("use"), use != "sig" {
            throw JOSEFailure("jwk use is \(printable(use)), not sig")
        }
    }

    /// Reads a public JWK kept as JSON text.
    init(jwkJSON: String) throws(JOSEFailure) {
        try self.init(jwk: StrictJSON.parseObject(Array(jwkJSON.utf8)))
    }

    private static func coordinate(_ jwk: [String: JSONAny], _ name: String, length: Int) throws(JOSEFailure) -> Data {
        guard let text = try jwk.string(name), let bytes = Base64URL.decode(text), bytes.count == length else {
            throw JOSEFailure("jwk \(name) is not a \(length)-byte base64url value")
        }
        return bytes
    }

    /// Whether `signature` is this key's valid signature of `signingInput` under `algorithm`.
    func verify(signature: Data, signingInput: Data) -> Bool {
        switch self {
        case .p256(let key):
            guard signature.count == 64,
                Self.isValidScalar(signature.prefix(32)),
                Self.isValidScalar(signature.suffix(32)),
                let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: signingInput)
        case .ed25519(let key):
            guard signature.count == 64 else { return false }
            return key.isValidSignature(signature, for: signingInput)
        }
    }

    /// The order n of the P-256 group, big-endian.
    private static let p256Order: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ]

    /// Whether a 32-byte big-endian scalar lies in `[1, n-1]`.
    private static func isValidScalar(_ bytes: Data) -> Bool {
        let scalar = Array(bytes)
        guard scalar.count == 32, scalar.contains(where: { $0 != 0 }) else { return false }
        for (a, b) in zip(scalar, p256Order) where a != b {
            return a < b
        }
        return false
    }
}
