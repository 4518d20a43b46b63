import Crypto
public import Foundation
public import PortcullisCore

/// Verifies DPoP proofs (RFC 9449 §4.3).
///
/// The proof is parsed by ``CompactJWS``; it is the one kind of JWT here that
/// carries its key in a `jwk` header, and that key is only ever used to check
/// the proof's own signature and to compute the thumbprint the token is bound to.
///
/// Each check fails with ``OAuthError/invalidDPoPProof(_:)``: the shared header
/// refusals (`alg: none`, HS*/RS*, `jku`, `x5u`, `x5c`, `crit`); `typ` must be
/// `dpop+jwt`; `jwk` must be a public EC P-256 or OKP Ed25519 key (no `d` or
/// other private member) that fits `alg`; the signature must verify with it;
/// `htm` must equal the method; `htu` must equal the request URL, both without
/// query and fragment, scheme and host compared case-insensitively and default
/// ports dropped; `iat` must be at most `maxAge` old and at most ``allowedFutureSkew``
/// ahead; `jti` must be new (recorded as namespace `dpop`, id `<jkt>:<jti>`, so
/// one client cannot burn another's ids, until the proof could no longer be
/// accepted); with an access token, `ath` must be base64url(SHA-256(token)),
/// and without one `ath` is ignored.
public struct DPoPVerifier: Sendable {
    /// The `typ` of every DPoP proof.
    public static let proofType = "dpop+jwt"

    /// How far in the future a proof's `iat` may be (clock skew).
    public let allowedFutureSkew: TimeInterval

    /// A verifier allowing `allowedFutureSkew` seconds of clock skew.
    public init(allowedFutureSkew: TimeInterval = 30) {
        self.allowedFutureSkew = allowedFutureSkew
    }

    /// Verifies a DPoP proof for a request and records its `jti`.
    ///
    /// - Parameters:
    ///   - proof: The `DPoP` header value.
    ///   - method: The request method, e.g. `POST`.
    ///   - url: The request URL as the client addressed it (scheme, host, port, path; query ignored).
    ///   - accessToken: The access token presented with the proof, if any (then `ath` is required).
    ///   - now: The current time.
    ///   - replay: The replay cache.
    ///   - maxAge: How old a proof's `iat` may be.
    /// - Throws: ``OAuthError/invalidDPoPProof(_:)`` with the reason.
    public func verify(
        proof: String, method: String, url: String, accessToken: String?, now: Date,
        replay: any TokenStateStore, maxAge: TimeInterval = 300
    )
        async throws(OAuthError) -> DPoPProof
    {
        let checked: (jkt: String, jti: String, iat: Date)
        do {
            checked = try check(proof, method: method, url: url, accessToken: accessToken, now: now, maxAge: maxAge)
        } catch {
            throw .invalidDPoPProof(error.reason)
        }
        let firstUse: Bool
        do {
            firstUse = try await replay.recordOnce(
                namespace: "dpop", id: "\(checked.jkt):\(checked.jti)",
                expiresAt: checked.iat.addingTimeInterval(maxAge + allowedFutureSkew))
        } catch {
            throw .invalidDPoPProof("DPoP replay check is unavailable")
        }
        guard firstUse else { throw .invalidDPoPProof("DPoP proof jti has already been used") }
        return DPoPProof(jkt: checked.jkt, jti: checked.jti, issuedAt: checked.iat)
    }

    private func check(
        _ proof: String, method: String, url: String, accessToken: String?, now: Date,
        maxAge: TimeInterval
    ) throws(JOSEFailure) -> (jkt: String, jti: String, iat: Date) {
        let jws = try CompactJWS.parse(proof)
        let alg = try jws.checkHeader(allowed: SigningAlgorithm.names, allowEmbeddedJWK: true)
        guard jws.hasType(Self.proofType) else { throw JOSEFailure("typ must be dpop+jwt") }
        guard case .object(let jwk)? = jws.header["jwk"] else { throw JOSEFailure("jwk header is missing") }
        let key = try VerificationKey(jwk: jwk)
        guard sameBytes(key.algorithm.rawValue, alg) else {
            throw JOSEFailure("alg \(printable(alg)) does not fit the jwk")
        }
        guard key.verify(signature: jws.signature, signingInput: jws.signingInput) else {
            throw JOSEFailure("signature is invalid")
        }

        let claims = jws.claims
        guard sameBytes(try claims.requiredString("htm"), method) else {
            throw JOSEFailure("htm does not match the request method")
        }
        guard let htu = Self.normalizedURL(try claims.requiredString("htu")), let target = Self.normalizedURL(url),
            htu == target
        else { throw JOSEFailure("htu does not match the request URL") }
        guard let iat = try claims.numericDate("iat") else { throw JOSEFailure("iat is missing") }
        guard iat <= now.addingTimeInterval(allowedFutureSkew) else { throw JOSEFailure("iat is in the future") }
        guard iat >= now.addingTimeInterval(-maxAge) else { throw JOSEFailure("proof is too old") }
        let jti = try claims.requiredString("jti")
        guard jti.utf8.count <= 256 else { throw JOSEFailure("jti is too long") }
        if let accessToken {
            guard let ath = try claims.string("ath") else { throw JOSEFailure("ath is missing") }
            let expected = Base64URL.encode(SHA256.hash(data: Data(accessToken.utf8)))
            guard sameBytes(ath, expected) else { throw JOSEFailure("ath does not match the access token") }
        }
        return (try JWKThumbprint.compute(jwk), jti, iat)
    }

    /// The RFC 7638 thumbprint (base64url SHA-256) of an EC, OKP or RSA JWK.
    ///
    /// Only the required members enter the hash, in lexicographic order with no
    /// whitespace: `{"crv","kty","x","y"}` for EC, `{"crv","kty","x"}` for OKP,
    /// `{"e","kty","n"}` for RSA.
    ///
    /// - Throws: ``OAuthError/invalidDPoPProof(_:)`` when a required member is missing or malformed.
    public static func thumbprint(jwk: [String: JSONAny]) throws(OAuthError) -> String {
        do {
            return try JWKThumbprint.compute(jwk)
        } catch {
            throw .invalidDPoPProof(error.reason)
        }
    }

    /// `scheme://host[:port]/path` with scheme and host lowercased, the default port
    /// dropped, an empty path as `/`, and no query or fragment (RFC 9449 §4.3 step 9,
    /// RFC 3986 §6.2.3); nil for anything that is not an absolute http(s) URL or
    /// that carries user information.
    static func normalizedURL(_ text: String) -> String? {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = components.percentEncodedHost?.lowercased(), !host.isEmpty,
            components.percentEncodedUser == nil, components.percentEncodedPassword == nil
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let port = components.port.flatMap { $0 == defaultPort ? nil : $0 }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return "\(scheme)://\(host)\(port.map { ":\($0)" } ?? "")\(path)"
    }
}
