// Token service benchmark: access tokens issued and verified per second, with and without DPoP.
//
//   swift run -c release TokenBenchmarks [COUNT]        # default 2000 per measurement
//   openssl speed -seconds 5 ecdsap256                   # the physical reference
//
// Issuance runs the whole client_credentials grant in process (parse, verify the
// ES256 client assertion, replay cache, sign the ES256 access token, record it in
// SQLite), on an in-memory SQLite store. Assertions and DPoP proofs are signed
// before the clock starts. Verification checks the access token (signature, typ,
// iss, aud, exp), and with DPoP also the proof (signature, htm, htu, ath, jti).
import Crypto
import Foundation
import PortcullisCore
import PortcullisIdentity
import PortcullisServer
import PortcullisStore

let count = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 2000
let issuer = "http://127.0.0.1:8640"
let resource = "https://mcp.example.com"
let store = try SQLiteStore.inMemory()
var config = ServerConfiguration()
config.issuer = issuer
let serverKey = SigningKey.generate(.es256)
let service = TokenService(configuration: config, agents: store, tokens: store, signingKey: serverKey,
                           identityProviders: [])
let agentKey = SigningKey.generate(.es256)
let dpopKey = P256.Signing.PrivateKey()
let agent = Agent(id: "agt_bench", name: "bench", owner: "bench", purpose: "benchmark", modelProvider: "x",
                  modelName: "m", modelVersion: "1", createdAt: Date(), maxConcurrentSessions: Int.max,
                  allowedScopes: ["tools.read"], allowedAudiences: [resource],
                  publicKeys: [JWKJSON(json: String(decoding: try JSONEncoder.canonical.encode(agentKey.publicJWK), as: UTF8.self))])
try await store.create(agent, event: LifecycleEvent(agentID: agent.id, kind: .registered, actor: "bench", reason: "bench", at: Date()))

func assertion() throws -> String {
    let now = Int64(Date().timeIntervalSince1970)
    return try JWTSigner(key: agentKey).sign(type: "JWT", claims: [
        "iss": .string(agent.id), "sub": .string(agent.id), "aud": .string(issuer + "/oauth/token"),
        "iat": .int(now), "exp": .int(now + 300), "jti": .string(UUID().uuidString),
    ])
}

func b64(_ d: some DataProtocol) -> String {
    Data(d).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A DPoP proof (RFC 9449), signed here as a client would: the JWS is built by hand.
func proof(method: String, url: String, accessToken: String?) throws -> String {
    let raw = dpopKey.publicKey.rawRepresentation
    let jwk: [String: String] = ["kty": "EC", "crv": "P-256", "x": b64(raw.prefix(32)), "y": b64(raw.suffix(32))]
    let header: [String: Any] = ["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk]
    var claims: [String: Any] = ["htm": method, "htu": url, "iat": Int(Date().timeIntervalSince1970), "jti": UUID().uuidString]
    if let accessToken { claims["ath"] = b64(Data(SHA256.hash(data: Data(accessToken.utf8)))) }
    let input = b64(try JSONSerialization.data(withJSONObject: header)) + "." + b64(try JSONSerialization.data(withJSONObject: claims))
    return input + "." + b64(try dpopKey.signature(for: Data(input.utf8)).rawRepresentation)
}

func rate(_ label: String, _ n: Int, _ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let r = Double(n) / seconds
    print("| \(label) | \(n) | \(String(format: "%.2f", seconds)) | \(Int(r)) |")
    return r
}

print("| measurement | operations | seconds | per second |")
print("|---|---:|---:|---:|")
for dpop in [false, true] {
    let forms = try (0..<count).map { _ in
        ["grant_type": ["client_credentials"], "client_assertion_type": [TokenService.clientAssertionType],
         "client_assertion": [try assertion()], "resource": [resource]]
    }
    let proofs = try (0..<count).map { _ in dpop ? try proof(method: "POST", url: issuer + "/oauth/token", accessToken: nil) : nil }
    var tokens: [String] = []
    tokens.reserveCapacity(count)
    _ = try await rate("issue (client_credentials\(dpop ? " + DPoP" : ""))", count) {
        for i in 0..<count {
            let r = try await service.token(form: forms[i], dpopProof: proofs[i])
            tokens.append(r["access_token"] as! String)
        }
    }
    let verifier = AccessTokenVerifier(issuer: issuer, keys: [serverKey])
    let now = Date()
    if dpop {
        let resourceProofs = try tokens.map { try proof(method: "GET", url: resource + "/mcp", accessToken: $0) }
        _ = try await rate("verify access token + DPoP proof", count) {
            for i in 0..<count {
                let t = try verifier.verify(tokens[i], expectedAudience: resource, now: now)
                let p = try await DPoPVerifier().verify(proof: resourceProofs[i], method: "GET", url: resource + "/mcp",
                                                        accessToken: tokens[i], now: now, replay: store)
                precondition(p.jkt == t.cnfJKT)
            }
        }
    } else {
        _ = try await rate("verify access token", count) {
            for i in 0..<count { _ = try verifier.verify(tokens[i], expectedAudience: resource, now: now) }
        }
    }
}
