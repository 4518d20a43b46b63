import Crypto
public import Foundation
import JWTKit
public import PortcullisCore

/// A trusted user identity provider: verifies the tokens it issues (ID tokens, JWT access tokens).
///
/// Configured with the IdP's issuer identifier and its JWKS document (fetching
/// that document is the server's job). Accepted algorithms are ES256, EdDSA and
/// RS256, each only with a key of the fitting type; `none` and every HS*
/// algorithm are refused, and so are `jwk`, `jku`, `x5u`, `x5c` and `crit`
/// headers: keys come from the configured JWKS only, chosen by exact `kid`.
///
/// RS256 signatures are checked by jwt-kit's RSA verifier (PKCS #1 v1.5 on
/// BoringSSL, keys of at least 2048 bits): jwt-kit exposes it only through its
/// key-collection actor, which is why the initializer is `async`; the JWS
/// parsing and every header and claim check stay ours (``CompactJWS``).
public struct ExternalIdentityProvider: Sendable {
    /// One key from the JWKS.
    private struct Key: Sendable {
        enum Verifier: Sendable {
            case native(VerificationKey)
            case rsa(any JWTAlgorithm)
        }

        let kid: String?
        let alg: String
        let verifier: Verifier

        func verify(_ jws: CompactJWS) -> Bool {
            switch verifier {
            case .native(let key): key.verify(signature: jws.signature, signingInput: jws.signingInput)
            case .rsa(let algorithm): (try? algorithm.verify(jws.signature, signs: jws.signingInput)) ?? false
            }
        }
    }

    /// Algorithms accepted from an identity provider.
    static let acceptedAlgorithms: Set<String> = ["ES256", "EdDSA", "RS256"]

    /// The IdP's issuer identifier, compared byte for byte with `iss`.
    public let issuer: String
    /// The audience this server is known as at the IdP. Required: a user token minted for another
    /// application must not become a delegation to one of our agents.
    public let audience: String
    /// Allowed clock skew for `exp`, `nbf` and `iat`.
    public let leeway: TimeInterval
    private let keys: [Key]

    /// A provider trusting the signing keys in `jwksJSON` for tokens from `issuer`.
    ///
    /// Keys with `use` other than `sig`, and key types or algorithms we do not
    /// accept (P-384, RS512, …), are skipped; a JWKS with no usable key, with a
    /// malformed key or with private key material is refused.
    ///
    /// - Throws: ``OAuthError/serverError(_:)`` describing the configuration problem.
    public init(issuer: String, jwksJSON: String, audience: String?, leeway: TimeInterval = 30)
        async throws(OAuthError)
    {
        guard let audience, !audience.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .serverError("identity provider `\(issuer)` needs an `audience`: without it a user token for any application at that provider would be accepted")
        }
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        let document: [String: JSONAny]
        do {
            document = try StrictJSON.parseObject(Array(jwksJSON.utf8))
        } catch {
            throw .serverError("identity provider JWKS is not a JSON object: \(error.reason)")
        }
        guard case .array(let entries)? = document["keys"] else {
            throw .serverError("identity provider JWKS has no keys array")
        }
        var keys: [Key] = []
        for entry in entries {
            guard case .object(let jwk) = entry else { throw .serverError("identity provider JWKS holds a non-object") }
            if let key = try await Self.key(from: jwk) { keys.append(key) }
        }
        guard !keys.isEmpty else { throw .serverError("identity provider JWKS has no usable signing key") }
        self.keys = keys
    }

    private static func key(from jwk: [String: JSONAny]) async throws(OAuthError) -> Key? {
        if let member = VerificationKey.privateMembers.first(where: { jwk[$0] != nil }) {
            throw .serverError("identity provider JWKS contains private key material (\(member))")
        }
        if let use = jwk["use"], use != .string("sig") { return nil }
        let kid = jwk["kid"]?.stringValue
        let declaredAlg = jwk["alg"]?.stringValue
        switch (jwk["kty"]?.stringValue, jwk["crv"]?.stringValue) {
        case ("EC", "P-256"), ("OKP", "Ed25519"):
            let key: VerificationKey
            do {
                key = try VerificationKey(jwk: jwk.filter { $0.key != "alg" })
            } catch {
                throw .serverError("identity provider key \(kid ?? "?") is malformed: \(error.reason)")
            }
            guard declaredAlg == nil || declaredAlg == key.algorithm.rawValue else { return nil }
            return Key(kid: kid, alg: key.algorithm.rawValue, verifier: .native(key))
        case ("RSA", _):
            guard declaredAlg == nil || declaredAlg == "RS256" else { return nil }
            guard let n = jwk["n"]?.stringValue, let e = jwk["e"]?.stringValue,
                Base64URL.decode(n) != nil, Base64URL.decode(e) != nil
            else { throw .serverError("identity provider RSA key \(kid ?? "?") has no valid n and e") }
            do {
                let publicKey = try Insecure.RSA.PublicKey(modulus: n, exponent: e)
                let collection = JWTKeyCollection()
                let identifier = JWKIdentifier(string: "rsa")
                await collection.add(rsa: publicKey, digestAlgorithm: .sha256, kid: identifier)
                let algorithm = try await collection.getKey(for: identifier, alg: "RS256")
                return Key(kid: kid, alg: "RS256", verifier: .rsa(algorithm))
            } catch {
                throw .serverError("identity provider RSA key \(kid ?? "?") is unusable (at least 2048 bits)")
            }
        default:
            return nil
        }
    }

    /// Verifies a token from this IdP and returns its claims.
    ///
    /// Requires a valid signature by a JWKS key fitting `alg` (the key with the
    /// header's `kid` when it has one), `iss` equal to ``issuer``, an unexpired
    /// `exp`, `nbf` and `iat` not in the future, a `sub`, and ``audience`` in
    /// `aud` when configured.
    ///
    /// - Throws: ``OAuthError/invalidGrant(_:)`` with the reason.
    public func verify(_ token: String, now: Date) throws(OAuthError) -> [String: JSONAny] {
        do {
            return try check(token, now: now)
        } catch {
            throw .invalidGrant("identity provider token refused: \(error.reason)")
        }
    }

    private func check(_ token: String, now: Date) throws(JOSEFailure) -> [String: JSONAny] {
        let jws = try CompactJWS.parse(token)
        let alg = try jws.checkHeader(allowed: Self.acceptedAlgorithms)
        var candidates = keys.filter { sameBytes($0.alg, alg) }
        if let kid = jws.kid {
            candidates = candidates.filter { key in key.kid.map { sameBytes($0, kid) } ?? false }
            guard !candidates.isEmpty else { throw JOSEFailure("unknown kid for alg \(printable(alg))") }
        }
        guard !candidates.isEmpty else { throw JOSEFailure("no key for alg \(printable(alg))") }
        guard candidates.contains(where: { $0.verify(jws) }) else { throw JOSEFailure("signature is invalid") }

        let claims = jws.claims
        guard sameBytes(try claims.requiredString("iss"), issuer) else { throw JOSEFailure("wrong issuer") }
        _ = try TimeChecks.requireUnexpired(claims, now: now, leeway: leeway)
        try TimeChecks.requireNotBefore(claims, now: now, leeway: leeway)
        _ = try TimeChecks.issuedAt(claims, now: now, leeway: leeway)
        _ = try claims.requiredString("sub")
        guard let audiences = try claims.audiences(), audiences.contains(where: { sameBytes($0, audience) }) else {
            throw JOSEFailure("token is not for this audience")
        }
        return claims
    }
}
