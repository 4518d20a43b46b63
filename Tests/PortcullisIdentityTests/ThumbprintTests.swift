import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

@Suite("JWK thumbprints (RFC 7638)")
struct ThumbprintTests {
    @Test("the RFC 7638 §3.1 example (RSA)")
    func rfcExample() throws {
        let jwk: [String: JSONAny] = [
            "kty": .string("RSA"), "e": .string("AQAB"), "alg": .string("RS256"), "kid": .string("2011-04-29"),
            "n": .string(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
            ),
        ]
        #expect(try DPoPVerifier.thumbprint(jwk: jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test(
        "EC, OKP and RSA keys agree with joserfc",
        arguments: [
            (Joserfc.ecPublicJWK, Joserfc.ecThumbprint),
            (Joserfc.okpPublicJWK, Joserfc.okpThumbprint),
            (
                StrictJSONFixture.member(Joserfc.idpJWKS, "keys").flatMap {
                    if case .array(let keys) = $0, case .object(let key) = keys[0] { key } else { nil }
                }!, Joserfc.rsaThumbprint
            ),
        ])
    func joserfc(jwk: [String: JSONAny], expected: String) throws {
        #expect(try DPoPVerifier.thumbprint(jwk: jwk) == expected)
    }

    @Test("optional members (kid, alg, use, d) do not change the thumbprint")
    func optionalMembers() throws {
        var jwk = Joserfc.ecPublicJWK
        jwk["kid"] = .string("k1")
        jwk["alg"] = .string("ES256")
        jwk["use"] = .string("sig")
        jwk["d"] = .string("OZlMuC_8gvBBXOX3QH6ag169dPZryT1B3fkNmWaau8w")
        #expect(try DPoPVerifier.thumbprint(jwk: jwk) == Joserfc.ecThumbprint)
    }

    @Test(
        "a server key's kid is its thumbprint, as joserfc computes it",
        arguments: [(Joserfc.ecPrivateJWK, Joserfc.ecThumbprint), (Joserfc.okpPrivateJWK, Joserfc.okpThumbprint)])
    func signingKeyKid(privateJWK: String, expected: String) throws {
        #expect(try SigningKey(privateJWK: privateJWK).kid == expected)
    }

    @Test(
        "missing or malformed members are refused",
        arguments: [
            ["kty": JSONAny.string("EC"), "crv": .string("P-256"), "x": .string("AAAA")],
            ["kty": .string("OKP"), "crv": .string("Ed25519")],
            ["kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string("a\"b")],
            ["kty": .string("EC"), "crv": .string("P-256\",\"x"), "x": .string("AAAA"), "y": .string("AAAA")],
            ["kty": .string("oct"), "k": .string("c2VjcmV0")],
            ["crv": .string("Ed25519"), "x": .string("AAAA")],
        ])
    func refused(jwk: [String: JSONAny]) {
        #expect(throws: OAuthError.self) { try DPoPVerifier.thumbprint(jwk: jwk) }
    }
}
