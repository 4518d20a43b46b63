import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// An IdP publishing an ES256 and an EdDSA key, plus the RSA key of the joserfc vectors.
enum IdPFixture {
    static let issuer = "https://idp.example.com"
    static let es256 = SigningKey.generate(.es256)
    static let eddsa = SigningKey.generate(.eddsa)
    static let rogue = SigningKey.generate(.es256)

    /// Our two keys and joserfc's RSA key in one JWKS.
    static var jwks: String {
        let ours = StrictJSONFixture.member(JWKS.document([es256, eddsa]), "keys")
        let rsa = StrictJSONFixture.member(Joserfc.idpJWKS, "keys")
        guard case .array(let ourKeys)? = ours, case .array(let rsaKeys)? = rsa else { fatalError("fixture JWKS") }
        return Forge.json(["keys": .array(ourKeys + rsaKeys)])
    }

    static var claims: [String: JSONAny] {
        [
            "iss": .string(issuer), "sub": .string("alice"), "aud": .string("portcullis"),
            "iat": .int(Forge.nowSeconds - 60), "exp": .int(Forge.nowSeconds + 3600),
        ]
    }

    static func token(
        header changes: [String: JSONAny?] = [:], claims claimChanges: [String: JSONAny?] = [:],
        key: SigningKey = es256, signer: SigningKey? = nil
    ) -> String {
        var header: [String: JSONAny] = [
            "alg": .string(key.algorithm.rawValue), "kid": .string(key.kid), "typ": .string("JWT"),
        ]
        for (name, value) in changes { header[name] = value }
        var claims = claims
        for (name, value) in claimChanges { claims[name] = value }
        return Forge.signed(header: header, claims: claims, key: signer ?? key)
    }

    static func provider(audience: String? = "portcullis") async throws -> ExternalIdentityProvider {
        try await ExternalIdentityProvider(issuer: issuer, jwksJSON: jwks, audience: audience)
    }
}

@Suite("External identity provider tokens")
struct ExternalIdentityProviderTests {
    typealias F = IdPFixture

    @Test("ES256 and EdDSA tokens from the IdP are accepted", arguments: SigningAlgorithm.allCases)
    func nativeAlgorithms(algorithm: SigningAlgorithm) async throws {
        let key = algorithm == .es256 ? F.es256 : F.eddsa
        let claims = try await F.provider().verify(F.token(key: key), now: Forge.now)
        #expect(claims == F.claims)
    }

    @Test(
        "RS256 tokens signed by joserfc are accepted, with or without kid",
        arguments: [Joserfc.idpTokenRS256, Joserfc.idpTokenRS256NoKid])
    func rs256(token: String) async throws {
        let claims = try await F.provider().verify(token, now: Forge.now)
        #expect(claims["sub"] == .string("alice"))
        #expect(claims["iss"] == .string(F.issuer))
    }

    @Test("a token minted for another application at the provider is refused")
    func otherAudience() async throws {
        let token = F.token(claims: ["aud": .string("someone-else")])
        await #expect(throws: (any Error).self) { try await F.provider().verify(token, now: Forge.now) }
    }

    static let refusals: [RefusalCase] = {
        let rsaParts = Joserfc.idpTokenRS256.split(separator: ".").map(String.init)
        let tamperedPayload = Forge.b64(
            #"{"iss":"https://idp.example.com","sub":"admin","aud":"portcullis","iat":1759999940,"exp":1760003600}"#)
        return [
            RefusalCase(
                "alg none", Forge.token(header: #"{"alg":"none"}"#, payload: Forge.json(F.claims), signature: "AA"),
                "alg none is refused"),
            RefusalCase(
                "HS256 keyed with the JWKS text",
                Forge.hmac(
                    header: ["alg": .string("HS256"), "kid": .string("rsa-1")], claims: F.claims,
                    secret: Data(Joserfc.idpJWKS.utf8)),
                "alg HS256 is not accepted"),
            RefusalCase(
                "HS256 keyed with the RSA modulus",
                Forge.hmac(
                    header: ["alg": .string("HS256")], claims: F.claims,
                    secret: Data("sOygNSxHg28dm".utf8)),
                "alg HS256 is not accepted"),
            RefusalCase("PS256", F.token(header: ["alg": .string("PS256")]), "alg PS256 is not accepted"),
            RefusalCase(
                "RS256 payload swapped", "\(rsaParts[0]).\(tamperedPayload).\(rsaParts[2])",
                "signature is invalid"),
            RefusalCase(
                "RS256 header on an EC kid", F.token(header: ["alg": .string("RS256")]), "unknown kid for alg RS256"),
            RefusalCase("signed by a rogue key under a known kid", F.token(signer: F.rogue), "signature is invalid"),
            RefusalCase("unknown kid", F.token(header: ["kid": .string("../../jwks.json")]), "unknown kid"),
            RefusalCase(
                "embedded jwk", F.token(header: ["jwk": .object(Forge.bareJWK(F.rogue)), "kid": nil], signer: F.rogue),
                "jwk header is not trusted"),
            RefusalCase(
                "jku header", F.token(header: ["jku": .string("https://evil.example.com/jwks")]),
                "jku header is not trusted"),
            RefusalCase(
                "x5u header", F.token(header: ["x5u": .string("https://evil.example.com/c.pem")]),
                "x5u header is not trusted"),
            RefusalCase(
                "crit header", F.token(header: ["crit": .array([.string("exp")])]), "crit header is not supported"),
            RefusalCase("wrong iss", F.token(claims: ["iss": .string("https://evil.example.com")]), "wrong issuer"),
            RefusalCase("expired", F.token(claims: ["exp": .int(Forge.nowSeconds - 31)]), "token has expired"),
            RefusalCase("exp missing", F.token(claims: ["exp": nil]), "exp is missing"),
            RefusalCase(
                "nbf in the future", F.token(claims: ["nbf": .int(Forge.nowSeconds + 31)]), "nbf is in the future"),
            RefusalCase(
                "iat in the future", F.token(claims: ["iat": .int(Forge.nowSeconds + 31)]), "iat is in the future"),
            RefusalCase(
                "aud for another client", F.token(claims: ["aud": .string("other-app")]), "not for this audience"),
            RefusalCase("aud missing", F.token(claims: ["aud": nil]), "not for this audience"),
            RefusalCase("sub missing", F.token(claims: ["sub": nil]), "sub is missing"),
        ]
    }()

    @Test("crafted IdP tokens are refused with invalid_grant", arguments: refusals)
    func refused(_ refusal: RefusalCase) async throws {
        let provider = try await F.provider()
        do {
            _ = try provider.verify(refusal.token, now: Forge.now)
            Issue.record("accepted: \(refusal.name)")
        } catch {
            #expect(error.error == "invalid_grant")
            #expect(error.description.contains(refusal.reason), "\(error.description)")
        }
    }

    @Test(
        "a JWKS that is unusable is refused at configuration",
        arguments: [
            "[]",
            #"{"keys":{}}"#,
            #"{"keys":[]}"#,
            #"{"keys":[{"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"}]}"#,
            #"{"keys":[{"kty":"EC","crv":"P-256","x":"9IyqhxSGKsfI4PGqdHJ7cSQdrJktCuEH8TRLs1lbWfw","y":"LSznfDixgCnh5P7Dh8BL0pwq5zAIGHeneIi0BCZqtAo","use":"enc"}]}"#,
            Joserfc.ecPrivateJWK.replacingOccurrences(of: "{", with: #"{"keys":[{"#) + "]}",
            Joserfc.weakRSAJWKS,
            #"{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}"#,
        ])
    func unusableJWKS(jwks: String) async {
        do {
            _ = try await ExternalIdentityProvider(issuer: F.issuer, jwksJSON: jwks, audience: "portcullis")
            Issue.record("accepted JWKS \(jwks)")
        } catch {
            #expect(error.error == "server_error" && !error.description.contains("audience"))
        }
    }

    @Test("a provider without an audience is refused", arguments: [nil, "", "  "] as [String?])
    func providerNeedsAnAudience(audience: String?) async {
        do {
            _ = try await ExternalIdentityProvider(issuer: F.issuer, jwksJSON: F.jwks, audience: audience)
            Issue.record("accepted a provider without an audience")
        } catch {
            #expect(error.error == "server_error" && error.description.contains("needs an `audience`"))
        }
    }
}
