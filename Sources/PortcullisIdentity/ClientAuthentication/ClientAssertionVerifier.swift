public import Foundation
public import PortcullisCore

/// Authenticates a client by its signed JWT assertion (`private_key_jwt`, RFC 7523 §2.2 and §3, RFC 7521 §4.2).
///
/// The checks, each failing with ``OAuthError/invalidClient(_:)`` and its reason:
/// - the header passes the shared refusals (no `alg: none`, no HS*/RS*, no
///   `jwk`/`jku`/`x5u`/`x5c`/`crit`), and a `typ`, when present, is `JWT` or
///   `client-authentication+jwt` — an access token or DPoP proof is not an assertion;
/// - `iss` and `sub` are equal, and equal the request's `client_id` when it names one;
/// - the signature verifies with one of the agent's registered public JWKs (EC
///   P-256 for ES256, OKP Ed25519 for EdDSA). When the header has a `kid`, only
///   keys whose JWK `kid` (or, for keys without one, RFC 7638 thumbprint) equals
///   it are tried; otherwise every key whose type fits `alg`. A registered key
///   with private members is never used;
/// - `aud` holds one of the accepted audiences (the issuer identifier or the
///   token endpoint URL: clients differ);
/// - `exp` is present, not past (with leeway) and at most ``maxLifetime`` (plus
///   leeway) ahead; `iat` and `nbf`, when present, are not in the future;
/// - `jti` is present, at most 256 bytes, and has not been seen before: it is
///   recorded as `client-assertion:<client_id>` until `exp`, only after every
///   other check passed, so unauthenticated requests cannot fill the cache;
/// - `agent_config_digest`, when present, is a lowercase hex SHA-256.
public struct ClientAssertionVerifier: Sendable {
    /// Accepted `typ` values (RFC 7519 `JWT`, and the type proposed by the RFC 7523 update).
    static let acceptedTypes = ["jwt", "client-authentication+jwt"]

    /// Allowed clock skew for `exp`, `iat` and `nbf`.
    public let leeway: TimeInterval
    /// The longest an assertion may still be valid for when presented: longer-lived assertions are refused.
    public let maxLifetime: TimeInterval

    /// A verifier with the given clock skew and maximum assertion lifetime (10 minutes by default).
    public init(leeway: TimeInterval = 30, maxLifetime: TimeInterval = 600) {
        self.leeway = leeway
        self.maxLifetime = maxLifetime
    }

    /// Verifies a client assertion and records its `jti`.
    ///
    /// - Parameters:
    ///   - assertion: The `client_assertion` parameter.
    ///   - claimedClientID: The request's `client_id` parameter, when it has one.
    ///   - agentKeys: The agent's registered public JWKs.
    ///   - acceptedAudiences: Audiences that name this server (issuer, token endpoint URL).
    ///   - now: The current time.
    ///   - replay: The replay cache.
    /// - Throws: ``OAuthError/invalidClient(_:)``; a replay is
    ///   `invalidClient("client assertion jti has already been used")`, and a
    ///   failing replay cache also refuses (it never lets an assertion through).
    public func verify(
        _ assertion: String, claimedClientID: String?, agentKeys: [JWKJSON],
        acceptedAudiences: [String], now: Date, replay: any TokenStateStore
    )
        async throws(OAuthError) -> ClientAssertion
    {
        let checked: (clientID: String, jti: String, exp: Date, configDigest: String?)
        do {
            checked = try check(
                assertion, claimedClientID: claimedClientID, agentKeys: agentKeys,
                acceptedAudiences: acceptedAudiences, now: now)
        } catch {
            throw .invalidClient("client assertion refused: \(error.reason)")
        }
        let firstUse: Bool
        do {
            firstUse = try await replay.recordOnce(
                namespace: "client-assertion:\(checked.clientID)", id: checked.jti,
                expiresAt: checked.exp)
        } catch {
            throw .invalidClient("client assertion replay check is unavailable")
        }
        guard firstUse else { throw .invalidClient("client assertion jti has already been used") }
        return ClientAssertion(
            clientID: checked.clientID, jti: checked.jti, expiresAt: checked.exp,
            configDigest: checked.configDigest)
    }

    private func check(
        _ assertion: String, claimedClientID: String?, agentKeys: [JWKJSON],
        acceptedAudiences: [String], now: Date
    )
        throws(JOSEFailure) -> (clientID: String, jti: String, exp: Date, configDigest: String?)
    {
        let jws = try CompactJWS.parse(assertion)
        let alg = try jws.checkHeader(allowed: SigningAlgorithm.names)
        if jws.header["typ"] != nil, !Self.acceptedTypes.contains(where: jws.hasType) {
            throw JOSEFailure("typ must be JWT or client-authentication+jwt")
        }

        let claims = jws.claims
        let iss = try claims.requiredString("iss")
        let sub = try claims.requiredString("sub")
        guard sameBytes(iss, sub) else { throw JOSEFailure("iss and sub differ") }
        if let claimedClientID, !sameBytes(claimedClientID, sub) {
            throw JOSEFailure("iss/sub do not match client_id")
        }

        try verifySignature(jws, alg: alg, agentKeys: agentKeys)

        guard let audiences = try claims.audiences() else { throw JOSEFailure("aud is missing") }
        guard audiences.contains(where: { audience in acceptedAudiences.contains { sameBytes($0, audience) } }) else {
            throw JOSEFailure("aud does not name this server")
        }
        let exp = try TimeChecks.requireUnexpired(claims, now: now, leeway: leeway)
        guard exp <= now.addingTimeInterval(maxLifetime + leeway) else {
            throw JOSEFailure("exp is too far in the future (at most \(Int(maxLifetime)) s)")
        }
        _ = try TimeChecks.issuedAt(claims, now: now, leeway: leeway)
        try TimeChecks.requireNotBefore(claims, now: now, leeway: leeway)
        let jti = try claims.requiredString("jti")
        guard jti.utf8.count <= 256 else { throw JOSEFailure("jti is too long") }

        let configDigest = try claims.string("agent_config_digest")
        if let configDigest {
            let isHex = configDigest.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            guard configDigest.utf8.count == 64, isHex else {
                throw JOSEFailure("agent_config_digest is not a lowercase hex SHA-256")
            }
        }
        return (sub, jti, exp, configDigest)
    }

    private func verifySignature(_ jws: CompactJWS, alg: String, agentKeys: [JWKJSON]) throws(JOSEFailure) {
        var candidates: [VerificationKey] = []
        for registered in agentKeys {
            guard let jwk = try? StrictJSON.parseObject(Array(registered.json.utf8)),
                let key = try? VerificationKey(jwk: jwk),
                sameBytes(key.algorithm.rawValue, alg)
            else { continue }
            if let kid = jws.kid {
                let keyID = jwk["kid"]?.stringValue ?? (try? JWKThumbprint.compute(jwk))
                guard let keyID, sameBytes(keyID, kid) else { continue }
            }
            candidates.append(key)
        }
        guard !candidates.isEmpty else {
            throw JOSEFailure(
                jws.kid == nil
                    ? "no registered key of the client fits alg \(printable(alg))"
                    : "no registered key of the client has this kid and fits alg \(printable(alg))"
            )
        }
        guard candidates.contains(where: { $0.verify(signature: jws.signature, signingInput: jws.signingInput) })
        else { throw JOSEFailure("signature does not verify with the client's registered keys") }
    }
}
