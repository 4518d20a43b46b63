import Crypto
import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// Keys and claims shared by the access-token tests.
enum AccessFixture {
    static let issuer = "https://as.example.com"
    static let audience = "https://api.example.com"
    static let es256 = SigningKey.generate(.es256)
    static let eddsa = SigningKey.generate(.eddsa)
    static let attacker = SigningKey.generate(.es256)
    static let verifier = AccessTokenVerifier(issuer: issuer, keys: [es256, eddsa])

    static var claims: [String: JSONAny] {
        [
            "iss": .string(issuer), "sub": .string("user:alice"), "client_id": .string("agt_1"),
            "aud": .string(audience), "scope": .string("read write"), "jti": .string("tok-1"),
            "iat": .int(Forge.nowSeconds - 10), "exp": .int(Forge.nowSeconds + 300),
        ]
    }

    static func header(_ key: SigningKey = es256, typ: String = "at+jwt") -> [String: JSONAny] {
        ["alg": .string(key.algorithm.rawValue), "kid": .string(key.kid), "typ": .string(typ)]
    }

    static func claims(_ changes: [String: JSONAny?]) -> [String: JSONAny] {
        var claims = claims
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    static func header(_ changes: [String: JSONAny?], key: SigningKey = es256) -> [String: JSONAny] {
        var header = header(key)
        for (name, value) in changes { header[name] = value }
        return header
    }

    /// A correctly signed token with modified header members or claims.
    static func token(
        header changes: [String: JSONAny?] = [:], claims claimChanges: [String: JSONAny?] = [:],
        key: SigningKey = es256, signer: SigningKey? = nil
    ) -> String {
        Forge.signed(header: header(changes, key: key), claims: claims(claimChanges), key: signer ?? key)
    }
}

@Suite("Access tokens: signing and verification")
struct AccessTokenVerifierTests {
    typealias F = AccessFixture

    @Test("a token signed by JWTSigner verifies and exposes its claims", arguments: SigningAlgorithm.allCases)
    func roundTrip(algorithm: SigningAlgorithm) throws {
        let key = algorithm == .es256 ? F.es256 : F.eddsa
        let act = Delegation.actChain(newActor: "agt_2", previous: .object(["sub": .string("agt_1")]))
        let claims = F.claims([
            "aud": .array([.string("https://other.example.com"), .string(F.audience)]),
            "cnf": .object(["jkt": .string("thumb")]), "act": act,
        ])
        let token = try JWTSigner(key: key).sign(type: "at+jwt", claims: claims)
        let verified = try F.verifier.verify(token, expectedAudience: F.audience, now: Forge.now)
        #expect(verified.header["alg"] == .string(algorithm.rawValue))
        #expect(verified.header["kid"] == .string(key.kid))
        #expect(verified.header["typ"] == .string("at+jwt"))
        #expect(verified.jti == "tok-1")
        #expect(verified.sub == "user:alice")
        #expect(verified.clientID == "agt_1")
        #expect(verified.scope == ["read", "write"])
        #expect(verified.aud == ["https://other.example.com", F.audience])
        #expect(verified.exp == Forge.now.addingTimeInterval(300))
        #expect(verified.iat == Forge.now.addingTimeInterval(-10))
        #expect(verified.cnfJKT == "thumb")
        #expect(verified.act == act)
        #expect(verified.claims == claims)
    }

    @Test("extra header members are signed; reserved ones are refused")
    func extraHeader() throws {
        let signer = JWTSigner(key: F.es256)
        let token = try signer.sign(header: ["x-trace": .string("t1")], type: "at+jwt", claims: F.claims)
        #expect(try F.verifier.verify(token, expectedAudience: nil, now: Forge.now).header["x-trace"] == .string("t1"))
        for reserved in ["alg", "kid", "typ", "jwk", "jku", "x5u", "x5c", "crit"] {
            #expect(throws: OAuthError.self) {
                try signer.sign(header: [reserved: .string("x")], type: "at+jwt", claims: F.claims)
            }
        }
    }

    @Test("a typ of application/at+jwt in any case is accepted (RFC 7515 §4.1.9)")
    func mediaTypeForm() throws {
        let token = F.token(header: ["typ": .string("application/AT+JWT")])
        #expect(try F.verifier.verify(token, expectedAudience: F.audience, now: Forge.now).jti == "tok-1")
    }

    @Test("exp, nbf and iat are accepted within the leeway")
    func leewayAccepted() throws {
        let token = F.token(claims: [
            "exp": .int(Forge.nowSeconds - 20), "nbf": .int(Forge.nowSeconds + 20), "iat": .int(Forge.nowSeconds + 20),
        ])
        #expect(try F.verifier.verify(token, expectedAudience: F.audience, now: Forge.now).sub == "user:alice")
    }

    @Test("no audience check when no audience is expected (introspection)")
    func noAudienceCheck() throws {
        let token = F.token(claims: ["aud": .string("https://elsewhere.example.com")])
        #expect(
            try F.verifier.verify(token, expectedAudience: nil, now: Forge.now).aud == ["https://elsewhere.example.com"]
        )
    }

    @Test("a key that was rotated out no longer verifies")
    func rotatedKey() throws {
        let token = try JWTSigner(key: F.eddsa).sign(type: "at+jwt", claims: F.claims)
        let verifier = AccessTokenVerifier(issuer: F.issuer, keys: [F.es256])
        #expect(throws: OAuthError.invalidToken("unknown kid")) {
            try verifier.verify(token, expectedAudience: F.audience, now: Forge.now)
        }
    }

    static let valid = F.token()
    static let validParts = valid.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    static let validSignature = Forge.signature(of: valid)

    static let refusals: [RefusalCase] = {
        let payload = Forge.json(F.claims)
        let garbage = Forge.b64("not-a-signature")
        var cases: [RefusalCase] = []
        for none in ["none", "None", "NONE", "nOnE"] {
            cases.append(
                RefusalCase(
                    "alg \(none) with a signature",
                    Forge.token(
                        header: Forge.json([
                            "alg": .string(none), "typ": .string("at+jwt"), "kid": .string(F.es256.kid),
                        ]),
                        payload: payload, signature: garbage),
                    "alg none is refused"))
        }
        cases += [
            RefusalCase(
                "alg none with an empty signature",
                Forge.token(header: #"{"alg":"none","typ":"at+jwt"}"#, payload: payload, signature: ""),
                "signature is missing"),
            RefusalCase(
                "HS256 keyed with our public JWK text",
                Forge.hmac(
                    header: F.header(["alg": .string("HS256")]), claims: F.claims,
                    secret: Data(JWKS.document([F.es256]).utf8)),
                "alg HS256 is not accepted"),
            RefusalCase(
                "HS256 keyed with our public key bytes",
                Forge.hmac(
                    header: F.header(["alg": .string("HS256")]), claims: F.claims,
                    secret: Data(F.es256.publicJWK["x"]!.stringValue!.utf8)),
                "alg HS256 is not accepted"),
            RefusalCase("RS256", F.token(header: ["alg": .string("RS256")]), "alg RS256 is not accepted"),
            RefusalCase("ES384", F.token(header: ["alg": .string("ES384")]), "alg ES384 is not accepted"),
            RefusalCase("lower-case es256", F.token(header: ["alg": .string("es256")]), "alg es256 is not accepted"),
            RefusalCase(
                "EdDSA header on the ES256 key's kid", F.token(header: ["alg": .string("EdDSA")]),
                "alg EdDSA does not fit the key"),
            RefusalCase(
                "ES256 header on the EdDSA key's kid",
                F.token(header: ["alg": .string("ES256")], key: F.eddsa), "alg ES256 does not fit the key"),
            RefusalCase("alg missing", F.token(header: ["alg": nil]), "header has no alg"),
            RefusalCase(
                "alg not a string", F.token(header: ["alg": .array([.string("ES256")])]),
                "header alg is not a string"),
            RefusalCase("signature stripped", "\(validParts[0]).\(validParts[1]).", "signature is missing"),
            RefusalCase("signature segment removed", "\(validParts[0]).\(validParts[1])", "not a compact JWS"),
            RefusalCase("signed by another key under our kid", F.token(signer: F.attacker), "signature is invalid"),
            RefusalCase(
                "payload changed after signing",
                "\(validParts[0]).\(Forge.b64(Forge.json(F.claims(["sub": .string("user:admin")])))).\(validParts[2])",
                "signature is invalid"),
            RefusalCase(
                "embedded jwk of the attacker's key",
                F.token(
                    header: ["jwk": .object(Forge.bareJWK(F.attacker)), "kid": .string(F.attacker.kid)],
                    signer: F.attacker),
                "jwk header is not trusted"),
            RefusalCase(
                "embedded jwk alongside our kid",
                F.token(header: ["jwk": .object(Forge.bareJWK(F.attacker))], signer: F.attacker),
                "jwk header is not trusted"),
            RefusalCase(
                "jku header", F.token(header: ["jku": .string("https://evil.example.com/jwks")]),
                "jku header is not trusted"),
            RefusalCase(
                "x5u header", F.token(header: ["x5u": .string("https://evil.example.com/cert.pem")]),
                "x5u header is not trusted"),
            RefusalCase("x5c header", F.token(header: ["x5c": .array([.string("MIIB")])]), "x5c header is not trusted"),
            RefusalCase(
                "crit header", F.token(header: ["crit": .array([.string("exp")])]),
                "crit header is not supported"),
            RefusalCase("b64 header", F.token(header: ["b64": .bool(false)]), "b64 header is not supported"),
            RefusalCase("unknown kid", F.token(header: ["kid": .string("no-such-key")]), "unknown kid"),
            RefusalCase("path traversal kid", F.token(header: ["kid": .string("../../etc/passwd")]), "unknown kid"),
            RefusalCase("SQL kid", F.token(header: ["kid": .string("' OR '1'='1")]), "unknown kid"),
            RefusalCase("kid missing", F.token(header: ["kid": nil]), "header has no kid"),
            RefusalCase("kid not a string", F.token(header: ["kid": .int(1)]), "header kid is not a string"),
            RefusalCase("typ JWT (an ID token)", F.token(header: ["typ": .string("JWT")]), "typ must be at+jwt"),
            RefusalCase(
                "typ dpop+jwt (a DPoP proof)", F.token(header: ["typ": .string("dpop+jwt")]),
                "typ must be at+jwt"),
            RefusalCase("typ missing", F.token(header: ["typ": nil]), "typ must be at+jwt"),
            RefusalCase("exp missing", F.token(claims: ["exp": nil]), "exp is missing"),
            RefusalCase(
                "exp past the leeway", F.token(claims: ["exp": .int(Forge.nowSeconds - 31)]), "token has expired"),
            RefusalCase(
                "exp as a string", F.token(claims: ["exp": .string("\(Forge.nowSeconds + 300)")]),
                "exp is not a NumericDate"),
            RefusalCase(
                "nbf in the future", F.token(claims: ["nbf": .int(Forge.nowSeconds + 31)]),
                "nbf is in the future"),
            RefusalCase(
                "iat in the future", F.token(claims: ["iat": .int(Forge.nowSeconds + 31)]), "iat is in the future"),
            RefusalCase("iat missing", F.token(claims: ["iat": nil]), "iat is missing"),
            RefusalCase("wrong iss", F.token(claims: ["iss": .string("https://evil.example.com")]), "wrong issuer"),
            RefusalCase("iss with a trailing slash", F.token(claims: ["iss": .string(F.issuer + "/")]), "wrong issuer"),
            RefusalCase("iss missing", F.token(claims: ["iss": nil]), "iss is missing"),
            RefusalCase(
                "aud for another resource", F.token(claims: ["aud": .string("https://other.example.com")]),
                "not for this audience"),
            RefusalCase(
                "aud array without ours",
                F.token(claims: ["aud": .array([.string("https://a.example.com"), .string("https://b.example.com")])]),
                "not for this audience"),
            RefusalCase("aud missing", F.token(claims: ["aud": nil]), "aud is missing"),
            RefusalCase("aud a number", F.token(claims: ["aud": .int(1)]), "aud is neither"),
            RefusalCase("sub missing", F.token(claims: ["sub": nil]), "sub is missing"),
            RefusalCase("client_id missing", F.token(claims: ["client_id": nil]), "client_id is missing"),
            RefusalCase("jti missing", F.token(claims: ["jti": nil]), "jti is missing"),
            RefusalCase("act not an object", F.token(claims: ["act": .string("agt_2")]), "act is not an object"),
            RefusalCase(
                "ECDSA r = 0",
                Forge.replacingSignature(of: valid, with: Data(count: 32) + validSignature.suffix(32)),
                "signature is invalid"),
            RefusalCase(
                "ECDSA s = 0",
                Forge.replacingSignature(of: valid, with: validSignature.prefix(32) + Data(count: 32)),
                "signature is invalid"),
            RefusalCase(
                "ECDSA r = s = 0", Forge.replacingSignature(of: valid, with: Data(count: 64)),
                "signature is invalid"),
            RefusalCase(
                "ECDSA r = n", Forge.replacingSignature(of: valid, with: Forge.p256Order + validSignature.suffix(32)),
                "signature is invalid"),
            RefusalCase(
                "ECDSA signature of 63 bytes", Forge.replacingSignature(of: valid, with: validSignature.prefix(63)),
                "signature is invalid"),
            RefusalCase(
                "ECDSA signature of 65 bytes", Forge.replacingSignature(of: valid, with: validSignature + Data([0])),
                "signature is invalid"),
            RefusalCase(
                "ECDSA signature in DER",
                Forge.replacingSignature(
                    of: valid,
                    with: try! P256.Signing.ECDSASignature(rawRepresentation: validSignature).derRepresentation),
                "signature is invalid"),
            RefusalCase(
                "EdDSA signature truncated",
                {
                    let t = F.token(key: F.eddsa)
                    return Forge.replacingSignature(of: t, with: Forge.signature(of: t).prefix(32))
                }(),
                "signature is invalid"),
            RefusalCase("padded base64url signature", valid + "==", "signature is not base64url"),
            RefusalCase(
                "standard-alphabet base64 header", "+\(validParts[0].dropFirst()).\(validParts[1]).\(validParts[2])",
                "header is not base64url"),
            RefusalCase(
                "non-canonical base64url (trailing bits set)",
                "\(validParts[0]).\(validParts[1]).\(Forge.settingTrailingBit(validParts[2]))",
                "signature is not base64url"),
            RefusalCase("payload not base64url", "\(validParts[0]).!!!.\(validParts[2])", "payload is not base64url"),
            RefusalCase(
                "payload not JSON", Forge.signed(header: Forge.json(F.header()), payload: "{\"sub\":", key: F.es256),
                "payload is not a JSON object"),
            RefusalCase(
                "payload a JSON array", Forge.signed(header: Forge.json(F.header()), payload: "[1,2]", key: F.es256),
                "payload is not a JSON object"),
            RefusalCase(
                "payload a JSON string", Forge.signed(header: Forge.json(F.header()), payload: "\"x\"", key: F.es256),
                "payload is not a JSON object"),
            RefusalCase(
                "header a JSON array", Forge.token(header: "[]", payload: payload, signature: garbage),
                "header is not a JSON object"),
            RefusalCase(
                "duplicate alg in the header",
                Forge.signed(
                    header: #"{"alg":"ES256","alg":"none","kid":"\#(F.es256.kid)","typ":"at+jwt"}"#,
                    payload: payload, key: F.es256),
                "duplicate JSON member alg"),
            RefusalCase(
                "duplicate sub in the payload",
                Forge.signed(
                    header: Forge.json(F.header()),
                    payload: String(payload.dropLast()) + #","sub":"user:admin"}"#, key: F.es256),
                "duplicate JSON member sub"),
            RefusalCase(
                "trailing bytes after the payload JSON",
                Forge.signed(header: Forge.json(F.header()), payload: payload + "x", key: F.es256),
                "trailing bytes"),
            RefusalCase("five segments (JWE)", "a.b.c.d.e", "JWE"),
            RefusalCase("oversized token", String(repeating: "A", count: 70_000) + ".e30.AAAA", "too large"),
        ]
        return cases
    }()

    @Test("crafted access tokens are refused with invalid_token", arguments: refusals)
    func refused(_ refusal: RefusalCase) {
        do {
            _ = try F.verifier.verify(refusal.token, expectedAudience: F.audience, now: Forge.now)
            Issue.record("accepted: \(refusal.name)")
        } catch {
            #expect(error.error == "invalid_token")
            #expect(error.status == 401)
            #expect(error.description.contains(refusal.reason), "\(error.description)")
        }
    }

    @Test("the untampered token used by the refusal table is itself accepted")
    func controlIsValid() throws {
        #expect(try F.verifier.verify(Self.valid, expectedAudience: F.audience, now: Forge.now).jti == "tok-1")
        let eddsa = F.token(key: F.eddsa)
        #expect(try F.verifier.verify(eddsa, expectedAudience: F.audience, now: Forge.now).jti == "tok-1")
    }
}
