import Crypto
import Foundation
public import PortcullisCore

/// A private signing key of the authorization server (ES256 or EdDSA), with its JWK forms.
///
/// The key id is the RFC 7638 thumbprint of the public key, so it never needs
/// to be stored or chosen and two servers loading the same key agree on it.
/// `description` and `dump` never show the private part.
public struct SigningKey: Sendable, CustomStringConvertible, CustomReflectable {
    enum Backing: Sendable {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let backing: Backing

    /// The JWS algorithm this key signs with.
    public let algorithm: SigningAlgorithm

    /// The RFC 7638 JWK thumbprint (base64url SHA-256) of the public key.
    public let kid: String

    private init(_ backing: Backing) {
        self.backing = backing
        switch backing {
        case .p256: algorithm = .es256
        case .ed25519: algorithm = .eddsa
        }
        // The members are generated here, so the thumbprint cannot fail.
        kid = (try? JWKThumbprint.compute(Self.publicMembers(of: backing))) ?? ""
    }

    /// A fresh random key for `algorithm`.
    public static func generate(_ algorithm: SigningAlgorithm) -> SigningKey {
        switch algorithm {
        case .es256: SigningKey(.p256(P256.Signing.PrivateKey()))
        case .eddsa: SigningKey(.ed25519(Curve25519.Signing.PrivateKey()))
        }
    }

    /// Loads a key persisted as a private JWK (the text of ``privateJWK``).
    ///
    /// The public members, when present, must match the private scalar, and a
    /// JWK `alg` must fit the key type: a corrupted or hand-edited file fails
    /// here instead of signing tokens that nobody can verify.
    ///
    /// - Throws: ``OAuthError/serverError(_:)`` describing what is wrong with the JWK.
    public init(privateJWK json: String) throws(OAuthError) {
        let jwk: [String: JSONAny]
        do {
            jwk = try StrictJSON.parseObject(Array(json.utf8))
        } catch {
            throw .serverError("signing key is not a JWK: \(error.reason)")
        }
        let kty = jwk["kty"]?.stringValue
        let crv = jwk["crv"]?.stringValue
        guard let dText = jwk["d"]?.stringValue, let d = Base64URL.decode(dText), d.count == 32 else {
            throw .serverError("signing key JWK has no 32-byte private member d")
        }
        let backing: Backing
        switch (kty, crv) {
        case ("EC", "P-256"):
            guard let key = try? P256.Signing.PrivateKey(rawRepresentation: d) else {
                throw .serverError("signing key JWK d is not a P-256 scalar")
            }
            backing = .p256(key)
        case ("OKP", "Ed25519"):
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: d) else {
                throw .serverError("signing key JWK d is not an Ed25519 seed")
            }
            backing = .ed25519(key)
        default:
            throw .serverError("signing key JWK must be EC P-256 or OKP Ed25519")
        }
        let key = SigningKey(backing)
        for (name, value) in key.publicJWK where name != "alg" && name != "kid" && name != "use" {
            if let stored = jwk[name], stored != value {
                throw .serverError("signing key JWK member \(name) does not match its private key")
            }
        }
        if let alg = jwk["alg"], alg != .string(key.algorithm.rawValue) {
            throw .serverError("signing key JWK alg does not fit its key type")
        }
        self = key
    }

    private static func publicMembers(of backing: Backing) -> [String: JSONAny] {
        switch backing {
        case .p256(let key):
            let raw = key.publicKey.rawRepresentation
            return [
                "kty": .string("EC"), "crv": .string("P-256"),
                "x": .string(Base64URL.encode(raw.prefix(32))), "y": .string(Base64URL.encode(raw.suffix(32))),
            ]
        case .ed25519(let key):
            return [
                "kty": .string("OKP"), "crv": .string("Ed25519"),
                "x": .string(Base64URL.encode(key.publicKey.rawRepresentation)),
            ]
        }
    }

    /// The public JWK: key members plus `kid`, `alg` and `use: "sig"`.
    public var publicJWK: [String: JSONAny] {
        var jwk = Self.publicMembers(of: backing)
        jwk["kid"] = .string(kid)
        jwk["alg"] = .string(algorithm.rawValue)
        jwk["use"] = .string("sig")
        return jwk
    }

    /// The private JWK as JSON text (sorted members, with `d`); store it in a file readable only by its owner (0600).
    public var privateJWK: String {
        var jwk = publicJWK
        switch backing {
        case .p256(let key): jwk["d"] = .string(Base64URL.encode(key.rawRepresentation))
        case .ed25519(let key): jwk["d"] = .string(Base64URL.encode(key.rawRepresentation))
        }
        return Self.encode(.object(jwk))
    }

    /// The key as a verifier sees it.
    var verificationKey: VerificationKey {
        switch backing {
        case .p256(let key): .p256(key.publicKey)
        case .ed25519(let key): .ed25519(key.publicKey)
        }
    }

    /// The JWS signature of `signingInput`: `r || s` for ES256, the 64-byte signature for EdDSA.
    func signature(for signingInput: Data) throws(OAuthError) -> Data {
        do {
            switch backing {
            case .p256(let key): return try key.signature(for: signingInput).rawRepresentation
            case .ed25519(let key): return try key.signature(for: signingInput)
            }
        } catch {
            throw .serverError("signing failed")
        }
    }

    /// Canonical JSON text of a value whose members are all strings.
    static func encode(_ value: JSONAny) -> String {
        String(decoding: (try? JSONEncoder.canonical.encode(value)) ?? Data(), as: UTF8.self)
    }

    /// Shows the algorithm and key id only.
    public var description: String { "SigningKey(\(algorithm.rawValue), kid: \(kid))" }

    /// Hides the private key from `dump` and debuggers.
    public var customMirror: Mirror { Mirror(self, children: ["algorithm": algorithm, "kid": kid]) }
}
