public import Foundation
import PortcullisCore

/// Verifies access tokens that this server issued (JWT profile, RFC 9068).
///
/// The token is parsed by ``CompactJWS`` and the key is chosen only by exact
/// `kid` among our own keys: no key is ever taken from the token (`jwk`, `jku`,
/// `x5u`, `x5c` are refused), no `kid` is used as a path or a query, and `alg`
/// must be exactly the algorithm of the chosen key, which refuses `none` and
/// algorithm-confusion tokens (HS256 keyed with our public key, RS256, …).
///
/// Refused, each as ``OAuthError/invalidToken(_:)``: malformed compact form,
/// base64url or JSON (incl. duplicate members); `alg: none` in any case or an
/// algorithm other than the key's; a missing or empty signature or one that does
/// not verify (incl. ECDSA `r = 0` or `s = 0`, or a wrong length); `jwk`, `jku`,
/// `x5u`, `x5c`, `crit` headers; a missing or unknown `kid`; a `typ` other than
/// `at+jwt`; a wrong `iss`; a missing or expired `exp`; `nbf` or `iat` in the
/// future beyond the leeway; an `aud` without the expected audience; a missing
/// `sub`, `client_id`, `jti` or `iat`.
public struct AccessTokenVerifier: Sendable {
    /// The `typ` every access token carries (RFC 9068 §2.1).
    public static let tokenType = "at+jwt"

    /// The expected `iss`: this server's issuer identifier.
    public let issuer: String
    private let keys: [(kid: String, key: VerificationKey)]

    /// A verifier for tokens from `issuer` signed by one of `keys` (current and not yet retired).
    public init(issuer: String, keys: [SigningKey]) {
        self.issuer = issuer
        self.keys = keys.map { ($0.kid, $0.verificationKey) }
    }

    /// Verifies an access token and returns its claims.
    ///
    /// - Parameters:
    ///   - token: The compact JWS.
    ///   - expectedAudience: The resource this request is for; nil skips the audience check (introspection).
    ///   - now: The current time.
    ///   - leeway: Allowed clock skew for `exp`, `nbf` and `iat`.
    /// - Throws: ``OAuthError/invalidToken(_:)`` with the reason.
    public func verify(_ token: String, expectedAudience: String?, now: Date, leeway: TimeInterval = 30)
        throws(OAuthError) -> VerifiedToken
    {
        do {
            return try check(token, expectedAudience: expectedAudience, now: now, leeway: leeway)
        } catch {
            throw .invalidToken(error.reason)
        }
    }

    private func check(_ token: String, expectedAudience: String?, now: Date, leeway: TimeInterval)
        throws(JOSEFailure) -> VerifiedToken
    {
        let jws = try CompactJWS.parse(token)
        let alg = try jws.checkHeader(allowed: SigningAlgorithm.names)
        guard jws.hasType(Self.tokenType) else { throw JOSEFailure("typ must be at+jwt") }
        guard let kid = jws.kid else { throw JOSEFailure("header has no kid") }
        guard let key = keys.first(where: { sameBytes($0.kid, kid) })?.key else { throw JOSEFailure("unknown kid") }
        guard sameBytes(alg, key.algorithm.rawValue) else {
            throw JOSEFailure("alg \(printable(alg)) does not fit the key")
        }
        guard key.verify(signature: jws.signature, signingInput: jws.signingInput) else {
            throw JOSEFailure("signature is invalid")
        }

        let claims = jws.claims
        guard sameBytes(try claims.requiredString("iss"), issuer) else { throw JOSEFailure("wrong issuer") }
        let exp = try TimeChecks.requireUnexpired(claims, now: now, leeway: leeway)
        try TimeChecks.requireNotBefore(claims, now: now, leeway: leeway)
        guard let iat = try TimeChecks.issuedAt(claims, now: now, leeway: leeway) else {
            throw JOSEFailure("iat is missing")
        }
        guard let audiences = try claims.audiences(), !audiences.isEmpty else { throw JOSEFailure("aud is missing") }
        if let expectedAudience, !audiences.contains(where: { sameBytes($0, expectedAudience) }) {
            throw JOSEFailure("token is not for this audience")
        }
        let scope = try claims.string("scope")?.split(separator: " ").map(String.init) ?? []
        var cnfJKT: String?
        if let cnf = claims["cnf"] {
            guard case .object(let confirmation) = cnf else { throw JOSEFailure("cnf is not an object") }
            cnfJKT = try confirmation.string("jkt")
        }
        let act = claims["act"]
        if let act, case .object = act {} else if act != nil { throw JOSEFailure("act is not an object") }
        return VerifiedToken(
            header: jws.header, claims: claims, jti: try claims.requiredString("jti"),
            sub: try claims.requiredString("sub"), clientID: try claims.requiredString("client_id"), scope: scope,
            aud: audiences, exp: exp, iat: iat, cnfJKT: cnfJKT, act: act
        )
    }
}
