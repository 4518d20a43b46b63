import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import PortcullisCore
@testable import PortcullisStore
@testable import PortcullisVault
import Synchronization
import Testing

/// A small authorization server for the per-user kinds: refresh tokens (rotated on use), authorization codes with
/// PKCE, and token exchange. Records every token request's form.
final class FakeAuthorizationServer: Sendable {
    struct State {
        /// refresh token → user
        var refreshTokens: [String: String] = [:]
        /// code → (user, S256 challenge, redirect URI)
        var codes: [String: (String, String, String)] = [:]
        var forms: [[String: String]] = []
        var issued = 0
        var rotate = true
    }

    let state = Mutex(State())

    var forms: [[String: String]] { state.withLock { $0.forms } }

    func add(code: String, user: String, challenge: String, redirectURI: String) {
        state.withLock { $0.codes[code] = (user, challenge, redirectURI) }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/token") { [self] request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 16_384))
            let form = Dictionary((FormEncoding.pairs(body) ?? []).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            try await Task.sleep(for: .milliseconds(30))
            let answer: (Int, String) = state.withLock { s in
                s.forms.append(form)
                s.issued += 1
                let n = s.issued
                switch form["grant_type"] {
                case "refresh_token":
                    guard let user = s.refreshTokens[form["refresh_token"] ?? ""] else {
                        return (400, #"{"error":"invalid_grant"}"#)
                    }
                    var refresh = ""
                    if s.rotate {
                        s.refreshTokens[form["refresh_token"]!] = nil
                        let next = "rt-\(user)-\(n)"
                        s.refreshTokens[next] = user
                        refresh = #","refresh_token":"\#(next)""#
                    }
                    return (200, #"{"access_token":"at-\#(user)-\#(n)","token_type":"Bearer","expires_in":3600\#(refresh)}"#)
                case "authorization_code":
                    guard let (user, challenge, redirect) = s.codes.removeValue(forKey: form["code"] ?? ""),
                          redirect == form["redirect_uri"],
                          Base64URL.encode(SHA256.hash(data: Array((form["code_verifier"] ?? "").utf8))) == challenge else {
                        return (400, #"{"error":"invalid_grant"}"#)
                    }
                    s.refreshTokens["rt-\(user)-\(n)"] = user
                    return (200, #"{"access_token":"at-\#(user)-\#(n)","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-\#(user)-\#(n)","scope":"mail.read"}"#)
                case "urn:ietf:params:oauth:grant-type:token-exchange":
                    guard form["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt",
                          let subject = form["subject_token"], subject.hasPrefix("assertion:") else {
                        return (400, #"{"error":"invalid_request"}"#)
                    }
                    return (200, #"{"access_token":"xt-\#(n)","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":600}"#)
                default:
                    return (400, #"{"error":"unsupported_grant_type"}"#)
                }
            }
            return Response(status: .init(code: answer.0), headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: answer.1)))
        }
        return router
    }
}

@Suite("Per-user credentials and token exchange")
struct PerUserCredentialTests {
    static func userSecret(_ port: Int) -> [String: String] {
        ["authorize_url": "http://127.0.0.1:\(port)/authorize", "token_url": "http://127.0.0.1:\(port)/token",
         "client_id": "portcullis", "scope": "mail.read"]
    }

    @Test("a user's grant is sealed, bound to its user, survives a secret's rotation, follows a key rotation, and goes with its secret")
    func grantsAtRest() async throws {
        let t = TempVault()
        defer { t.remove() }
        let store = try t.store()
        let vault = try await Vault.open(store: store, key: VaultKey.generate())
        let refresh = "rt-alice-UNIQUE-9f8e7d6c5b4a"
        await #expect(throws: VaultError.self) {
            try await vault.putGrant(secret: "mail", user: "alice", refreshToken: refresh, scope: nil)
        }
        try await vault.put(name: "mail", kind: .oauthUser, metadata: Self.userSecret(1),
                            secret: SecretValue(["client_secret": "cs"]), by: "admin")
        try await vault.putGrant(secret: "mail", user: "alice", refreshToken: refresh, scope: "mail.read")
        #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken == refresh)
        #expect(try await vault.revealGrant(secret: "mail", user: "bob") == nil)
        #expect(!contains(try t.allBytes(), refresh))
        #expect(try await vault.grants().map(\.user) == ["alice"])
        #expect(!"\(try await vault.grants())".contains(refresh))

        // Alice's sealed grant copied onto Bob's row does not open for Bob.
        var stolen = try #require(try await store.vaultGrant(secret: "mail", user: "alice"))
        stolen.user = "bob"
        #expect(try await store.vaultPutGrant(stolen, expectedVersion: nil))
        await #expect(throws: VaultError.self) { try await vault.revealGrant(secret: "mail", user: "bob") }
        #expect(try await vault.deleteGrant(secret: "mail", user: "bob"))

        // A guarded store (a refresh-token rotation) loses against a reconnect that happened meanwhile.
        #expect(try await vault.putGrant(secret: "mail", user: "alice", refreshToken: "newer", scope: nil, expectedVersion: 7) == false)
        #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken == refresh)

        // A new client secret keeps the users' grants; a key rotation re-seals them.
        try await vault.rotate(name: "mail", secret: SecretValue(["client_secret": "cs2"]), by: "admin")
        #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken == refresh)
        let newKey = VaultKey.generate()
        try await vault.rotateKey(to: newKey)
        #expect(try await store.vaultGrant(secret: "mail", user: "alice")?.keyID == newKey.id)
        #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken == refresh)

        try await vault.delete(name: "mail")
        #expect(try await vault.grants().isEmpty)
    }

    @Test("the per-user kinds refuse bad parameters")
    func kinds() async throws {
        let t = TempVault()
        defer { t.remove() }
        let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
        let cases: [(VaultSecretKind, [String: String], [String: String], String)] = [
            (.oauthUser, ["token_url": "https://as.example/token", "client_id": "c"], ["client_secret": "s"], "authorize_url"),
            (.oauthUser, Self.userSecret(1), [:], "client_secret"),
            (.oauthUser, Self.userSecret(1).merging(["auth_method": "none"]) { $1 }, ["client_secret": "s"], "public client"),
            (.oauthUser, Self.userSecret(1).merging(["authorize_url": "http://as.example/authorize"]) { $1 }, ["client_secret": "s"], "https"),
            (.oauthUser, Self.userSecret(1).merging(["auth_method": "private_key_jwt"]) { $1 }, ["client_secret": "s"], "auth_method"),
            (.oauthTokenExchange, ["token_url": "https://as.example/token"], ["client_secret": "s"], "client_id"),
            (.oauthTokenExchange, ["token_url": "https://as.example/token", "client_id": "c", "authorize_url": "https://x"], ["client_secret": "s"], "no parameter"),
        ]
        for (kind, metadata, secret, expected) in cases {
            do {
                try await vault.put(name: "x", kind: kind, metadata: metadata, secret: SecretValue(secret), by: "admin")
                Issue.record("accepted \(kind) \(metadata)")
            } catch let e as VaultError {
                #expect(e.code == .invalidInput && e.message.contains(expected), "\(e.message)")
            }
        }
        try await vault.put(name: "public", kind: .oauthUser, metadata: Self.userSecret(1).merging(["auth_method": "none"]) { $1 },
                            secret: SecretValue([:]), by: "admin")
        #expect(try await vault.entry(name: "public")?.kind == "oauth_user")
    }

    @Test("per-user: nobody and unconnected users get nothing; Alice gets her own token, once for concurrent calls; rotated refresh tokens are kept; a revoked grant ends the connection")
    func perUser() async throws {
        let t = TempVault()
        defer { t.remove() }
        let server = FakeAuthorizationServer()
        server.state.withLock { $0.refreshTokens["rt-alice-0"] = "alice" }
        try await withLocalServer(server.router()) { port in
            let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { Task { try? await client.shutdown() } }
            let injector = CredentialInjector(vault: vault, client: client)
            try await vault.put(name: "mail", kind: .oauthUser, metadata: Self.userSecret(port),
                                secret: SecretValue(["client_secret": "cs"]), by: "admin")
            try await vault.putGrant(secret: "mail", user: "alice", refreshToken: "rt-alice-0", scope: nil)

            for subject in [nil, CredentialSubject(user: nil, actors: ["a1"])] {
                do {
                    _ = try await injector.headers(secret: "mail", for: subject)
                    Issue.record("a call acting for nobody got a per-user credential")
                } catch let e as VaultError { #expect(e.code == .needsUser) }
            }
            do {
                _ = try await injector.headers(secret: "mail", for: CredentialSubject(user: "bob", actors: ["a1"]))
                Issue.record("Bob got a credential without connecting")
            } catch let e as VaultError { #expect(e.code == .notConnected) }
            #expect(injector.tokenFetches == 0)

            let alice = CredentialSubject(user: "alice", actors: ["a1"])
            let values = try await withThrowingTaskGroup(of: String.self) { g in
                for _ in 0..<20 { g.addTask { try await injector.headerValue(secret: "mail", for: alice) } }
                return try await g.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(values == ["Bearer at-alice-1"])
            #expect(injector.tokenFetches == 1)
            #expect(server.forms.first?["grant_type"] == "refresh_token" && server.forms.first?["refresh_token"] == "rt-alice-0")
            // The authorization server rotated the refresh token; the new one is what the vault holds now.
            #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken == "rt-alice-1")
            #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.version == 2)

            // The user's grant is revoked at the authorization server: the next refresh ends the connection.
            server.state.withLock { $0.refreshTokens.removeAll() }
            injector.forgetTokens(secret: "mail", user: "alice")
            do {
                _ = try await injector.headers(secret: "mail", for: alice)
                Issue.record("a revoked grant still produced a credential")
            } catch let e as VaultError { #expect(e.code == .notConnected && e.message.contains("connect again")) }
            #expect(try await vault.revealGrant(secret: "mail", user: "alice") == nil)
        }
    }

    @Test("token exchange: an assertion for the user and the agents, one token per (user, agents), none for nobody")
    func tokenExchange() async throws {
        let t = TempVault()
        defer { t.remove() }
        let server = FakeAuthorizationServer()
        let signed = Mutex<[String]>([])
        try await withLocalServer(server.router()) { port in
            let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { Task { try? await client.shutdown() } }
            let injector = CredentialInjector(vault: vault, client: client, assertionSigner: { user, actors, audience in
                signed.withLock { $0.append("\(user)|\(actors.joined(separator: ","))|\(audience)") }
                return "assertion:\(user)"
            })
            try await vault.put(name: "erp", kind: .oauthTokenExchange,
                                metadata: ["token_url": "http://127.0.0.1:\(port)/token", "client_id": "portcullis",
                                           "audience": "https://erp.example", "scope": "orders"],
                                secret: SecretValue(["client_secret": "cs"]), by: "admin")
            do {
                _ = try await injector.headers(secret: "erp", for: nil)
                Issue.record("token exchange without a user")
            } catch let e as VaultError { #expect(e.code == .needsUser) }
            let alice = try await injector.headerValue(secret: "erp", for: CredentialSubject(user: "alice", actors: ["a1", "a2"]))
            let again = try await injector.headerValue(secret: "erp", for: CredentialSubject(user: "alice", actors: ["a1", "a2"]))
            let bob = try await injector.headerValue(secret: "erp", for: CredentialSubject(user: "bob", actors: ["a2"]))
            #expect(alice == again && alice != bob && alice.hasPrefix("Bearer xt-"))
            #expect(injector.tokenFetches == 2)
            #expect(signed.withLock { $0 } == ["alice|a1,a2|https://erp.example", "bob|a2|https://erp.example"])
            let form = try #require(server.forms.first)
            #expect(form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange")
            #expect(form["subject_token"] == "assertion:alice" && form["audience"] == "https://erp.example" && form["scope"] == "orders")
            #expect(form["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token")

            let unsigned = CredentialInjector(vault: vault, client: client)
            await #expect(throws: VaultError.self) {
                try await unsigned.headers(secret: "erp", for: CredentialSubject(user: "alice", actors: ["a1"]))
            }
        }
    }

    @Test("the consent flow: single-use ticket and state, PKCE S256, bound to the browser, an error or another issuer stores nothing, nothing stored unless recorded")
    func consentFlow() async throws {
        let t = TempVault()
        defer { t.remove() }
        let server = FakeAuthorizationServer()
        try await withLocalServer(server.router()) { port in
            let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { Task { try? await client.shutdown() } }
            let connections = UserConnections(vault: vault, client: client)
            try await vault.put(name: "mail", kind: .oauthUser,
                                metadata: Self.userSecret(port).merging(["issuer": "http://127.0.0.1:\(port)"]) { $1 },
                                secret: SecretValue(["client_secret": "cs"]), by: "admin")
            try await vault.put(name: "static", kind: .bearer, metadata: [:], secret: SecretValue(["token": "x"]), by: "admin")
            await #expect(throws: VaultError.self) { try await connections.issueTicket(secret: "static", upstream: "s", user: "alice") }

            let redirect = "https://portcullis.example/connect/callback"
            func start(_ user: String) async throws -> (state: String, binding: String, challenge: String) {
                let (ticket, _) = try await connections.issueTicket(secret: "mail", upstream: "mail", user: user)
                #expect(connections.peek(ticket: ticket)?.user == user)
                let (url, binding, _) = try await connections.begin(ticket: ticket, redirectURI: redirect)
                await #expect(throws: VaultError.self) { try await connections.begin(ticket: ticket, redirectURI: redirect) }
                let query = Dictionary((URLComponents(string: url)?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
                                       uniquingKeysWith: { a, _ in a })
                #expect(url.hasPrefix("http://127.0.0.1:\(port)/authorize?"))
                #expect(query["response_type"] == "code" && query["code_challenge_method"] == "S256")
                #expect(query["redirect_uri"] == redirect && query["client_id"] == "portcullis" && query["scope"] == "mail.read")
                return (query["state"] ?? "", binding, query["code_challenge"] ?? "")
            }
            let recorded = Mutex<[String]>([])
            let record: @Sendable (UserConnections.Connected) async throws -> Void = { c in recorded.withLock { $0.append(c.user) } }
            let issuer = "http://127.0.0.1:\(port)"

            // Another browser (no binding, or the wrong one) cannot complete it, and the state is then spent.
            var flow = try await start("alice")
            server.add(code: "c1", user: "alice-upstream", challenge: flow.challenge, redirectURI: redirect)
            await #expect(throws: VaultError.self) {
                try await connections.complete(state: flow.state, binding: "not-the-cookie", code: "c1", error: nil,
                                               issuer: issuer, record: record)
            }
            await #expect(throws: VaultError.self) {
                try await connections.complete(state: flow.state, binding: flow.binding, code: "c1", error: nil,
                                               issuer: issuer, record: record)
            }
            // The user said no; a code from another issuer (mix-up) is not redeemed.
            flow = try await start("alice")
            await #expect(throws: VaultError.self) {
                try await connections.complete(state: flow.state, binding: flow.binding, code: nil, error: "access_denied",
                                               issuer: issuer, record: record)
            }
            flow = try await start("alice")
            server.add(code: "c2", user: "alice-upstream", challenge: flow.challenge, redirectURI: redirect)
            await #expect(throws: VaultError.self) {
                try await connections.complete(state: flow.state, binding: flow.binding, code: "c2", error: nil,
                                               issuer: "https://evil.example", record: record)
            }
            // The audit record fails: nothing is stored.
            flow = try await start("alice")
            server.add(code: "c3", user: "alice-upstream", challenge: flow.challenge, redirectURI: redirect)
            await #expect(throws: (any Error).self) {
                try await connections.complete(state: flow.state, binding: flow.binding, code: "c3", error: nil,
                                               issuer: issuer) { _ in throw VaultError(.corrupt, "audit down") }
            }
            #expect(try await vault.grants().isEmpty)
            #expect(recorded.withLock { $0 }.isEmpty)

            // The real thing: PKCE checked by the authorization server, the refresh token stored for Alice.
            flow = try await start("alice")
            server.add(code: "c4", user: "alice-upstream", challenge: flow.challenge, redirectURI: redirect)
            let connected = try await connections.complete(state: flow.state, binding: flow.binding, code: "c4", error: nil,
                                                           issuer: issuer, record: record)
            #expect(connected == UserConnections.Connected(secret: "mail", upstream: "mail", user: "alice", scope: "mail.read"))
            #expect(recorded.withLock { $0 } == ["alice"])
            #expect(try await vault.revealGrant(secret: "mail", user: "alice")?.refreshToken.hasPrefix("rt-alice-upstream-") == true)
            #expect(server.forms.last?["code_verifier"]?.count == 64)
            #expect(connections.pending == 0)
        }
    }
}
