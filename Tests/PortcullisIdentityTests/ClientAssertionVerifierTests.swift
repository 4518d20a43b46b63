import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// An agent with two registered keys, and the assertions it signs.
enum AssertionFixture {
    static let clientID = "agt_7f3a"
    static let issuer = "https://as.example.com"
    static let tokenEndpoint = "https://as.example.com/oauth/token"
    static let audiences = [issuer, tokenEndpoint]
    static let es256 = SigningKey.generate(.es256)
    static let eddsa = SigningKey.generate(.eddsa)
    static let stranger = SigningKey.generate(.es256)
    static let digest = String(repeating: "ab", count: 32)

    /// The agent's registered JWKs: ES256 with a `kid` of its own choosing, EdDSA without a `kid`.
    static var agentKeys: [JWKJSON] {
        var es = Forge.bareJWK(es256)
        es["kid"] = .string("agent-key-1")
        return [JWKJSON(json: Forge.json(es)), JWKJSON(json: Forge.json(Forge.bareJWK(eddsa)))]
    }

    static var claims: [String: JSONAny] {
        [
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(tokenEndpoint),
            "jti": .string("assertion-1"), "iat": .int(Forge.nowSeconds), "exp": .int(Forge.nowSeconds + 120),
        ]
    }

    static func assertion(
        header changes: [String: JSONAny?] = [:], claims claimChanges: [String: JSONAny?] = [:],
        key: SigningKey = es256, kid: String? = "agent-key-1"
    ) -> String {
        var header: [String: JSONAny] = ["alg": .string(key.algorithm.rawValue), "typ": .string("JWT")]
        if let kid { header["kid"] = .string(kid) }
        for (name, value) in changes { header[name] = value }
        var claims = claims
        for (name, value) in claimChanges { claims[name] = value }
        return Forge.signed(header: header, claims: claims, key: key)
    }

    static func verify(
        _ assertion: String, claimedClientID: String? = clientID, keys: [JWKJSON] = agentKeys,
        store: any TokenStateStore = InMemoryTokenStateStore()
    ) async throws(OAuthError)
        -> ClientAssertion
    {
        try await ClientAssertionVerifier().verify(
            assertion, claimedClientID: claimedClientID, agentKeys: keys, acceptedAudiences: audiences,
            now: Forge.now, replay: store)
    }
}

@Suite("Client assertions (private_key_jwt)")
struct ClientAssertionVerifierTests {
    typealias F = AssertionFixture

    @Test("an ES256 assertion with a kid and an EdDSA one without are accepted")
    func accepted() async throws {
        let store = InMemoryTokenStateStore()
        let es = try await F.verify(F.assertion(), store: store)
        #expect(
            es
                == ClientAssertion(
                    clientID: F.clientID, jti: "assertion-1",
                    expiresAt: Forge.now.addingTimeInterval(120), configDigest: nil))
        let ed = try await F.verify(
            F.assertion(claims: ["jti": .string("assertion-2")], key: F.eddsa, kid: nil),
            store: store)
        #expect(ed.jti == "assertion-2")
        #expect(
            await store.recorded == [
                .init(namespace: "client-assertion:\(F.clientID)", id: "assertion-1", expiresAt: es.expiresAt),
                .init(namespace: "client-assertion:\(F.clientID)", id: "assertion-2", expiresAt: ed.expiresAt),
            ])
    }

    @Test(
        "both the issuer and the token endpoint are accepted audiences, as a string or in an array",
        arguments: [
            JSONAny.string(AssertionFixture.issuer), .string(AssertionFixture.tokenEndpoint),
            .array([.string("https://other.example.com"), .string(AssertionFixture.issuer)]),
        ])
    func audiences(_ aud: JSONAny) async throws {
        #expect(try await F.verify(F.assertion(claims: ["aud": aud])).clientID == F.clientID)
    }

    @Test("the client id comes from sub when the request names none")
    func clientIDFromSub() async throws {
        #expect(try await F.verify(F.assertion(), claimedClientID: nil).clientID == F.clientID)
    }

    @Test("a kid equal to the RFC 7638 thumbprint selects a registered key that has no kid")
    func thumbprintKid() async throws {
        let assertion = F.assertion(key: F.eddsa, kid: F.eddsa.kid)
        #expect(try await F.verify(assertion).clientID == F.clientID)
    }

    @Test("agent_config_digest is read as the attested configuration digest")
    func configDigest() async throws {
        let result = try await F.verify(F.assertion(claims: ["agent_config_digest": .string(F.digest)]))
        #expect(result.configDigest == F.digest)
    }

    @Test("a replayed assertion is refused with the exact error")
    func replay() async throws {
        let store = InMemoryTokenStateStore()
        let assertion = F.assertion()
        _ = try await F.verify(assertion, store: store)
        await #expect(throws: OAuthError.invalidClient("client assertion jti has already been used")) {
            try await F.verify(assertion, store: store)
        }
        let reSigned = F.assertion(claims: ["iat": .int(Forge.nowSeconds + 1)])
        await #expect(throws: OAuthError.invalidClient("client assertion jti has already been used")) {
            try await F.verify(reSigned, store: store)
        }
    }

    @Test("the same jti from another client is not a replay: the namespace is per client")
    func replayNamespace() async throws {
        let store = InMemoryTokenStateStore()
        _ = try await F.verify(F.assertion(), store: store)
        let other = "agt_other"
        let assertion = F.assertion(claims: ["iss": .string(other), "sub": .string(other)])
        #expect(try await F.verify(assertion, claimedClientID: other, store: store).clientID == other)
    }

    @Test("an unavailable replay cache refuses instead of letting the assertion through")
    func replayCacheDown() async {
        await #expect(throws: OAuthError.invalidClient("client assertion replay check is unavailable")) {
            try await F.verify(F.assertion(), store: UnavailableTokenStateStore())
        }
    }

    @Test("a refused assertion does not consume its jti")
    func refusedNotRecorded() async {
        let store = InMemoryTokenStateStore()
        _ = try? await F.verify(F.assertion(claims: ["aud": .string("https://evil.example.com")]), store: store)
        #expect(await store.recorded.isEmpty)
    }

    @Test("a registered key holding private material is never used")
    func privateRegisteredKey() async {
        let jwk = JWKJSON(json: F.es256.privateJWK)
        await #expect(throws: OAuthError.self) {
            try await F.verify(F.assertion(kid: nil), keys: [jwk])
        }
    }

    @Test("the assertion signed by joserfc (EdDSA) is accepted")
    func joserfcInterop() async throws {
        let keys = [JWKJSON(json: Forge.json(Joserfc.okpPublicJWK))]
        let result = try await ClientAssertionVerifier().verify(
            Joserfc.clientAssertion, claimedClientID: "agt_interop", agentKeys: keys,
            acceptedAudiences: ["https://as.example.com"], now: Forge.now, replay: InMemoryTokenStateStore())
        #expect(
            result
                == ClientAssertion(
                    clientID: "agt_interop", jti: "joserfc-assertion-1",
                    expiresAt: Forge.now.addingTimeInterval(120), configDigest: nil))
    }

    static let refusals: [RefusalCase] = [
        RefusalCase(
            "alg none", Forge.token(header: #"{"alg":"none"}"#, payload: Forge.json(F.claims), signature: "AA"),
            "alg none is refused"),
        RefusalCase(
            "alg NoNe", Forge.token(header: #"{"alg":"NoNe"}"#, payload: Forge.json(F.claims), signature: "AA"),
            "alg none is refused"),
        RefusalCase(
            "HS256 keyed with the agent's public JWK",
            Forge.hmac(header: ["alg": .string("HS256")], claims: F.claims, secret: Data(F.agentKeys[0].json.utf8)),
            "alg HS256 is not accepted"),
        RefusalCase("RS256", F.assertion(header: ["alg": .string("RS256")]), "alg RS256 is not accepted"),
        RefusalCase(
            "embedded jwk of a stranger",
            F.assertion(header: ["jwk": .object(Forge.bareJWK(F.stranger))], key: F.stranger, kid: nil),
            "jwk header is not trusted"),
        RefusalCase(
            "jku header", F.assertion(header: ["jku": .string("https://evil.example.com/jwks")]),
            "jku header is not trusted"),
        RefusalCase(
            "x5u header", F.assertion(header: ["x5u": .string("https://evil.example.com/c.pem")]),
            "x5u header is not trusted"),
        RefusalCase("x5c header", F.assertion(header: ["x5c": .array([.string("MIIB")])]), "x5c header is not trusted"),
        RefusalCase(
            "crit header", F.assertion(header: ["crit": .array([.string("jti")])]), "crit header is not supported"),
        RefusalCase(
            "typ at+jwt (an access token)", F.assertion(header: ["typ": .string("at+jwt")]),
            "typ must be JWT"),
        RefusalCase("typ dpop+jwt", F.assertion(header: ["typ": .string("dpop+jwt")]), "typ must be JWT"),
        RefusalCase(
            "signature stripped", String(F.assertion().split(separator: ".")[0...1].joined(separator: ".")) + ".",
            "signature is missing"),
        RefusalCase(
            "signed by a key the agent did not register", F.assertion(key: F.stranger, kid: nil),
            "signature does not verify"),
        RefusalCase(
            "signed by a stranger under the agent's kid", F.assertion(key: F.stranger),
            "signature does not verify"),
        RefusalCase("unknown kid", F.assertion(kid: "agent-key-9"), "no registered key of the client has this kid"),
        RefusalCase(
            "EdDSA header on the ES256 key's kid", F.assertion(header: ["alg": .string("EdDSA")]),
            "no registered key of the client has this kid and fits alg EdDSA"),
        RefusalCase("iss differs from sub", F.assertion(claims: ["iss": .string("agt_other")]), "iss and sub differ"),
        RefusalCase(
            "iss and sub name another client than client_id",
            F.assertion(claims: ["iss": .string("agt_other"), "sub": .string("agt_other")]),
            "do not match client_id"),
        RefusalCase("iss missing", F.assertion(claims: ["iss": nil]), "iss is missing"),
        RefusalCase("sub missing", F.assertion(claims: ["sub": nil]), "sub is missing"),
        RefusalCase(
            "aud of another server", F.assertion(claims: ["aud": .string("https://evil.example.com")]),
            "aud does not name this server"),
        RefusalCase("aud missing", F.assertion(claims: ["aud": nil]), "aud is missing"),
        RefusalCase("exp missing", F.assertion(claims: ["exp": nil]), "exp is missing"),
        RefusalCase("exp in the past", F.assertion(claims: ["exp": .int(Forge.nowSeconds - 60)]), "token has expired"),
        RefusalCase(
            "exp an hour ahead", F.assertion(claims: ["exp": .int(Forge.nowSeconds + 3600)]),
            "exp is too far in the future"),
        RefusalCase(
            "exp 10 minutes and 31 seconds ahead", F.assertion(claims: ["exp": .int(Forge.nowSeconds + 631)]),
            "exp is too far in the future"),
        RefusalCase(
            "iat in the future", F.assertion(claims: ["iat": .int(Forge.nowSeconds + 60)]), "iat is in the future"),
        RefusalCase(
            "nbf in the future", F.assertion(claims: ["nbf": .int(Forge.nowSeconds + 60)]), "nbf is in the future"),
        RefusalCase("jti missing", F.assertion(claims: ["jti": nil]), "jti is missing"),
        RefusalCase("jti empty", F.assertion(claims: ["jti": .string("")]), "jti is empty"),
        RefusalCase(
            "jti too long", F.assertion(claims: ["jti": .string(String(repeating: "j", count: 257))]),
            "jti is too long"),
        RefusalCase(
            "agent_config_digest not hex", F.assertion(claims: ["agent_config_digest": .string("sha256:abc")]),
            "agent_config_digest is not a lowercase hex SHA-256"),
        RefusalCase(
            "agent_config_digest upper-case",
            F.assertion(claims: ["agent_config_digest": .string(F.digest.uppercased())]),
            "agent_config_digest is not a lowercase hex SHA-256"),
        RefusalCase(
            "payload not JSON",
            Forge.signed(
                header: #"{"alg":"ES256","kid":"agent-key-1"}"#, payload: "{",
                key: F.es256),
            "payload is not a JSON object"),
    ]

    @Test("crafted assertions are refused with invalid_client", arguments: refusals)
    func refused(_ refusal: RefusalCase) async {
        do {
            _ = try await F.verify(refusal.token)
            Issue.record("accepted: \(refusal.name)")
        } catch {
            #expect(error.error == "invalid_client")
            #expect(error.status == 401)
            #expect(error.description.contains(refusal.reason), "\(error.description)")
        }
    }

    @Test("an assertion exactly 10 minutes ahead is accepted")
    func maxLifetime() async throws {
        #expect(try await F.verify(F.assertion(claims: ["exp": .int(Forge.nowSeconds + 600)])).clientID == F.clientID)
    }
}
