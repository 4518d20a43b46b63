import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

@Suite("Signing keys and the JWKS document")
struct SigningKeyTests {
    @Test("a key survives its private JWK", arguments: SigningAlgorithm.allCases)
    func privateJWKRoundTrip(algorithm: SigningAlgorithm) throws {
        let key = SigningKey.generate(algorithm)
        let loaded = try SigningKey(privateJWK: key.privateJWK)
        #expect(loaded.kid == key.kid)
        #expect(loaded.algorithm == algorithm)
        #expect(loaded.publicJWK == key.publicJWK)
        let token = try JWTSigner(key: loaded).sign(type: "at+jwt", claims: AccessFixture.claims)
        let verifier = AccessTokenVerifier(issuer: AccessFixture.issuer, keys: [key])
        #expect(try verifier.verify(token, expectedAudience: nil, now: Forge.now).sub == "user:alice")
    }

    @Test(
        "the private JWK holds d; the public JWK, the JWKS and the description do not",
        arguments: SigningAlgorithm.allCases)
    func privateMaterialStaysPrivate(algorithm: SigningAlgorithm) throws {
        let key = SigningKey.generate(algorithm)
        let d = try #require(StrictJSONFixture.member(key.privateJWK, "d")?.stringValue)
        #expect(key.publicJWK["d"] == nil)
        #expect(!JWKS.document([key]).contains(d))
        #expect(!key.description.contains(d))
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains(d))
    }

    @Test("the public JWK has the RFC members for its type")
    func publicJWKMembers() {
        let ec = SigningKey.generate(.es256).publicJWK
        #expect(Set(ec.keys) == ["kty", "crv", "x", "y", "kid", "alg", "use"])
        #expect(ec["kty"] == .string("EC") && ec["crv"] == .string("P-256") && ec["alg"] == .string("ES256"))
        let okp = SigningKey.generate(.eddsa).publicJWK
        #expect(Set(okp.keys) == ["kty", "crv", "x", "kid", "alg", "use"])
        #expect(okp["kty"] == .string("OKP") && okp["crv"] == .string("Ed25519") && okp["alg"] == .string("EdDSA"))
    }

    @Test("the JWKS document lists every key with kid, alg and use sig")
    func jwksDocument() throws {
        let keys = [SigningKey.generate(.es256), SigningKey.generate(.eddsa)]
        let document = try StrictJSON.parseObject(Array(JWKS.document(keys).utf8))
        #expect(Set(document.keys) == ["keys"])
        guard case .array(let entries)? = document["keys"] else {
            Issue.record("keys is not an array")
            return
        }
        #expect(entries.count == 2)
        for (entry, key) in zip(entries, keys) {
            #expect(entry == .object(key.publicJWK))
            #expect(entry["use"] == .string("sig"))
            #expect(entry["kid"] == .string(key.kid))
            #expect(entry["alg"] == .string(key.algorithm.rawValue))
        }
    }

    @Test(
        "a joserfc private JWK loads, and its public members are checked against d",
        arguments: [Joserfc.ecPrivateJWK, Joserfc.okpPrivateJWK])
    func loadsForeignJWK(json: String) throws {
        _ = try SigningKey(privateJWK: json)
    }

    @Test(
        "a broken private JWK is refused",
        arguments: [
            "not json",
            #"{"kty":"EC","crv":"P-256"}"#,
            #"{"kty":"RSA","d":"OZlMuC_8gvBBXOX3QH6ag169dPZryT1B3fkNmWaau8w"}"#,
            #"{"kty":"EC","crv":"P-384","d":"OZlMuC_8gvBBXOX3QH6ag169dPZryT1B3fkNmWaau8w"}"#,
            Joserfc.ecPrivateJWK.replacingOccurrences(of: "9IyqhxSG", with: "AAAAAAAA"),
            Joserfc.okpPrivateJWK.replacingOccurrences(of: "ksoqx7lK", with: "AAAAAAAA"),
            Joserfc.ecPrivateJWK.replacingOccurrences(of: #""kty":"EC""#, with: #""kty":"EC","alg":"EdDSA""#),
            Joserfc.ecPrivateJWK.replacingOccurrences(of: #""kty":"EC""#, with: #""kty":"EC","kty":"OKP""#),
        ])
    func brokenPrivateJWK(json: String) {
        #expect {
            try SigningKey(privateJWK: json)
        } throws: { error in
            (error as? OAuthError)?.error == "server_error"
        }
    }
}
