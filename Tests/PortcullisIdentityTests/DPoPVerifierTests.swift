import Crypto
import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// Client keys and proofs for the DPoP tests.
enum DPoPFixture {
    static let url = "https://as.example.com/token"
    static let accessToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
    static let es256 = SigningKey.generate(.es256)
    static let eddsa = SigningKey.generate(.eddsa)
    static let other = SigningKey.generate(.es256)

    static func proof(
        header changes: [String: JSONAny?] = [:], claims claimChanges: [String: JSONAny?] = [:],
        key: SigningKey = es256, signer: SigningKey? = nil
    ) -> String {
        var header: [String: JSONAny] = [
            "typ": .string("dpop+jwt"), "alg": .string(key.algorithm.rawValue), "jwk": .object(Forge.bareJWK(key)),
        ]
        for (name, value) in changes { header[name] = value }
        var claims: [String: JSONAny] = [
            "htm": .string("POST"), "htu": .string(url), "iat": .int(Forge.nowSeconds), "jti": .string("proof-1"),
        ]
        for (name, value) in claimChanges { claims[name] = value }
        return Forge.signed(header: header, claims: claims, key: signer ?? key)
    }

    static var ath: JSONAny { .string(Forge.b64(Data(SHA256.hash(data: Data(accessToken.utf8))))) }

    static func verify(
        _ proof: String, method: String = "POST", url: String = url, accessToken: String? = nil,
        store: any TokenStateStore = InMemoryTokenStateStore()
    ) async throws(OAuthError) -> DPoPProof {
        try await DPoPVerifier().verify(
            proof: proof, method: method, url: url, accessToken: accessToken,
            now: Forge.now, replay: store)
    }
}

@Suite("DPoP proofs")
struct DPoPVerifierTests {
    typealias F = DPoPFixture

    @Test("a valid proof is accepted and bound to its key's thumbprint", arguments: SigningAlgorithm.allCases)
    func valid(algorithm: SigningAlgorithm) async throws {
        let key = algorithm == .es256 ? F.es256 : F.eddsa
        let store = InMemoryTokenStateStore()
        let proof = try await F.verify(F.proof(key: key), store: store)
        #expect(proof == DPoPProof(jkt: key.kid, jti: "proof-1", issuedAt: Forge.now))
        #expect(
            await store.recorded == [
                .init(namespace: "dpop", id: "\(key.kid):proof-1", expiresAt: Forge.now.addingTimeInterval(330))
            ])
    }

    @Test("a proof with the matching ath is accepted with its access token")
    func withAccessToken() async throws {
        let proof = F.proof(claims: ["ath": F.ath, "htm": .string("GET"), "htu": .string("https://api.example.com/x")])
        let result = try await F.verify(
            proof, method: "GET", url: "https://api.example.com/x", accessToken: F.accessToken)
        #expect(result.jkt == F.es256.kid)
    }

    @Test("ath is ignored when no access token is presented")
    func athIgnoredWithoutToken() async throws {
        #expect(try await F.verify(F.proof(claims: ["ath": .string("whatever")])).jti == "proof-1")
    }

    @Test(
        "query and fragment are ignored; scheme, host and default port are normalized",
        arguments: [
            ("https://as.example.com/token", "https://as.example.com/token?client_id=agt_1"),
            ("https://as.example.com/token?x=1#frag", "https://as.example.com/token"),
            ("https://AS.Example.COM/token", "https://as.example.com/token"),
            ("HTTPS://as.example.com:443/token", "https://as.example.com/token"),
            ("http://as.example.com:80/token", "http://as.example.com/token"),
            ("https://as.example.com:8443/token", "https://as.example.com:8443/token"),
            ("https://as.example.com", "https://as.example.com/"),
        ])
    func htuNormalization(htu: String, url: String) async throws {
        #expect(try await F.verify(F.proof(claims: ["htu": .string(htu)]), url: url).jti == "proof-1")
    }

    @Test(
        "a different URL is refused",
        arguments: [
            "https://as.example.com/token/", "https://as.example.com/TOKEN", "http://as.example.com/token",
            "https://as.example.com:8443/token", "https://evil.example.com/token", "https://as.example.com/other",
            "https://user@as.example.com/token",
        ])
    func htuMismatch(url: String) async {
        await #expect(throws: OAuthError.invalidDPoPProof("htu does not match the request URL")) {
            try await F.verify(F.proof(), url: url)
        }
    }

    @Test("a replayed proof is refused")
    func replay() async throws {
        let store = InMemoryTokenStateStore()
        let proof = F.proof()
        _ = try await F.verify(proof, store: store)
        await #expect(throws: OAuthError.invalidDPoPProof("DPoP proof jti has already been used")) {
            try await F.verify(proof, store: store)
        }
    }

    @Test("an unavailable replay cache refuses")
    func replayCacheDown() async {
        await #expect(throws: OAuthError.invalidDPoPProof("DPoP replay check is unavailable")) {
            try await F.verify(F.proof(), store: UnavailableTokenStateStore())
        }
    }

    @Test("the proof made by joserfc is accepted, with joserfc's thumbprint")
    func joserfcInterop() async throws {
        let proof = try await F.verify(Joserfc.dpopProof)
        #expect(proof == DPoPProof(jkt: Joserfc.ecThumbprint, jti: "joserfc-proof-1", issuedAt: Forge.now))
    }

    static let refusals: [RefusalCase] = {
        var privateJWK = Forge.bareJWK(F.es256)
        privateJWK["d"] = StrictJSONFixture.member(F.es256.privateJWK, "d")
        return [
            RefusalCase("wrong htm", F.proof(claims: ["htm": .string("GET")]), "htm does not match"),
            RefusalCase("lower-case htm", F.proof(claims: ["htm": .string("post")]), "htm does not match"),
            RefusalCase(
                "wrong htu", F.proof(claims: ["htu": .string("https://as.example.com/authorize")]),
                "htu does not match"),
            RefusalCase(
                "htu not a URL", F.proof(claims: ["htu": .string("as.example.com/token")]), "htu does not match"),
            RefusalCase("htm missing", F.proof(claims: ["htm": nil]), "htm is missing"),
            RefusalCase("htu missing", F.proof(claims: ["htu": nil]), "htu is missing"),
            RefusalCase("stale iat", F.proof(claims: ["iat": .int(Forge.nowSeconds - 301)]), "proof is too old"),
            RefusalCase(
                "iat in the future", F.proof(claims: ["iat": .int(Forge.nowSeconds + 31)]), "iat is in the future"),
            RefusalCase("iat missing", F.proof(claims: ["iat": nil]), "iat is missing"),
            RefusalCase("jti missing", F.proof(claims: ["jti": nil]), "jti is missing"),
            RefusalCase(
                "private key in jwk", F.proof(header: ["jwk": .object(privateJWK)]),
                "jwk contains private key material (d)"),
            RefusalCase("jwk missing", F.proof(header: ["jwk": nil]), "jwk header is missing"),
            RefusalCase("jwk not an object", F.proof(header: ["jwk": .string("key")]), "jwk header is missing"),
            RefusalCase(
                "jwk of an unsupported type",
                F.proof(header: ["jwk": .object(["kty": .string("oct"), "k": .string("c2VjcmV0")])]),
                "jwk contains private key material (k)"),
            RefusalCase(
                "jwk of an RSA key",
                F.proof(header: ["jwk": .object(["kty": .string("RSA"), "n": .string("AQAB"), "e": .string("AQAB")])]),
                "is not supported"),
            RefusalCase(
                "jwk not on the curve",
                F.proof(header: [
                    "jwk": .object(
                        Forge.bareJWK(F.es256).merging(["y": .string(Forge.b64(Data(count: 32)))]) { $1 })
                ]),
                "not a point on P-256"),
            RefusalCase("signed by another key than the jwk", F.proof(signer: F.other), "signature is invalid"),
            RefusalCase(
                "EdDSA header with an EC jwk", F.proof(header: ["alg": .string("EdDSA")]),
                "alg EdDSA does not fit the jwk"),
            RefusalCase("typ JWT", F.proof(header: ["typ": .string("JWT")]), "typ must be dpop+jwt"),
            RefusalCase("typ at+jwt", F.proof(header: ["typ": .string("at+jwt")]), "typ must be dpop+jwt"),
            RefusalCase("typ missing", F.proof(header: ["typ": nil]), "typ must be dpop+jwt"),
            RefusalCase(
                "alg none", Forge.token(header: #"{"typ":"dpop+jwt","alg":"none"}"#, payload: "{}", signature: "AA"),
                "alg none is refused"),
            RefusalCase(
                "HS256 keyed with the jwk",
                Forge.hmac(
                    header: [
                        "typ": .string("dpop+jwt"), "alg": .string("HS256"),
                        "jwk": .object(Forge.bareJWK(F.es256)),
                    ],
                    claims: ["htm": .string("POST")], secret: Data(Forge.json(Forge.bareJWK(F.es256)).utf8)),
                "alg HS256 is not accepted"),
            RefusalCase(
                "jku header", F.proof(header: ["jku": .string("https://evil.example.com/jwks")]),
                "jku header is not trusted"),
            RefusalCase("x5c header", F.proof(header: ["x5c": .array([.string("MIIB")])]), "x5c header is not trusted"),
            RefusalCase(
                "crit header", F.proof(header: ["crit": .array([.string("htm")])]), "crit header is not supported"),
            RefusalCase(
                "signature stripped",
                String(F.proof().split(separator: ".")[0...1].joined(separator: ".")) + ".", "signature is missing"),
        ]
    }()

    @Test("crafted proofs are refused with invalid_dpop_proof", arguments: refusals)
    func refused(_ refusal: RefusalCase) async {
        do {
            _ = try await F.verify(refusal.token)
            Issue.record("accepted: \(refusal.name)")
        } catch {
            #expect(error.error == "invalid_dpop_proof")
            #expect(error.description.contains(refusal.reason), "\(error.description)")
        }
    }

    @Test("a wrong ath is refused")
    func wrongATH() async {
        let proof = F.proof(claims: ["ath": .string(Forge.b64(Data(SHA256.hash(data: Data("other-token".utf8)))))])
        await #expect(throws: OAuthError.invalidDPoPProof("ath does not match the access token")) {
            try await F.verify(proof, accessToken: F.accessToken)
        }
    }

    @Test("a missing ath is refused when an access token is presented")
    func missingATH() async {
        await #expect(throws: OAuthError.invalidDPoPProof("ath is missing")) {
            try await F.verify(F.proof(), accessToken: F.accessToken)
        }
    }

    @Test("a refused proof does not consume its jti")
    func refusedNotRecorded() async {
        let store = InMemoryTokenStateStore()
        _ = try? await F.verify(F.proof(claims: ["htm": .string("GET")]), store: store)
        #expect(await store.recorded.isEmpty)
    }
}

/// Reads one member of a JSON object text (test-side helper).
enum StrictJSONFixture {
    static func member(_ json: String, _ name: String) -> JSONAny? {
        guard case .object(let object) = try? StrictJSON.parse(Array(json.utf8)) else { return nil }
        return object[name]
    }
}
