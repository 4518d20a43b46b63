public import AsyncHTTPClient
public import Foundation
import NIOCore
import PortcullisCore
import NIOHTTP1
import Synchronization

/// Who a call acts for, as far as credentials are concerned: the user in the delegation chain (nil: nobody) and
/// the agents, outermost first, ending with the calling agent.
public struct CredentialSubject: Sendable, Equatable {
    public var user: String?
    public var actors: [String]

    public init(user: String?, actors: [String]) {
        self.user = user
        self.actors = actors
    }
}

/// Signs the assertion a token exchange presents for a user: `sub` the user, `act` the agents, `aud` the upstream's
/// authorization server, a lifetime of a minute. The server wires it to its own signing key (its JWKS is public).
public typealias UserAssertionSigner = @Sendable (_ user: String, _ actors: [String], _ audience: String) throws -> String

/// Turns a vault reference into the headers an upstream request carries, just in time.
///
/// Static kinds (header, bearer, basic) open the sealed value for each request. The OAuth kinds fetch an access
/// token from the upstream's own authorization server and keep it until 30 s before it expires:
/// - client credentials: one token per secret;
/// - token exchange: one per (secret, user, agents), from an assertion for the user signed by Portcullis;
/// - per-user: one per (secret, user), refreshed from the refresh token the user's consent stored (a rotated
///   refresh token is stored back, sealed).
///
/// Every fetch is single flight: all the calls that need the same token at the same moment wait for one request. A
/// new version of the secret (`vault rotate`) or of the user's grant (a reconnect) drops the cached token. The
/// per-user kinds inject nothing for a call that acts for nobody, and only the user's own grant for a user.
public final class CredentialInjector: Sendable {
    let vault: Vault
    let client: HTTPClient
    let clock: @Sendable () -> Date
    let assertionSigner: UserAssertionSigner?

    struct CachedToken: Sendable {
        /// The secret's version and, for per-user grants, the grant's version.
        var version: String
        var token: String
        var expiresAt: Date
    }

    private struct State: Sendable {
        var tokens: [String: CachedToken] = [:]
        var inFlight: [String: Task<CachedToken, any Error>] = [:]
        /// Token requests made to authorization servers (tests check single flight with it).
        var fetches = 0
    }

    private let state = Mutex(State())

    public init(vault: Vault, client: HTTPClient, clock: @escaping @Sendable () -> Date = Date.init,
                assertionSigner: UserAssertionSigner? = nil) {
        self.vault = vault
        self.client = client
        self.clock = clock
        self.assertionSigner = assertionSigner
    }

    /// How many access tokens were fetched from authorization servers so far.
    public var tokenFetches: Int { state.withLock { $0.fetches } }

    /// The headers for the secret `name` (a `vault:` reference without its prefix), for a call acting for `subject`
    /// (nil: a call that acts for nobody, such as an MCP upstream's connection).
    public func headers(secret name: String, for subject: CredentialSubject? = nil) async throws
        -> [(name: String, value: String)]
    {
        let (kind, metadata, secret, version) = try await vault.reveal(name: name)
        switch kind {
        case .header:
            return [(metadata["header"]!, (metadata["prefix"] ?? "") + (secret["value"] ?? ""))]
        case .bearer:
            return [("Authorization", "Bearer " + (secret["token"] ?? ""))]
        case .basic:
            let pair = Data("\(metadata["username"] ?? ""):\(secret["password"] ?? "")".utf8).base64EncodedString()
            return [("Authorization", "Basic " + pair)]
        case .oauthClientCredentials, .oauthTokenExchange, .oauthUser:
            let token = try await accessToken(name: name, kind: kind, version: version, metadata: metadata,
                                              secret: secret, subject: subject)
            return [("Authorization", "Bearer " + token)]
        }
    }

    /// The value of the header the secret `name` injects (`Bearer …`, `Basic …`, or a header kind's prefixed value):
    /// what an MCP upstream's configured header `"Authorization": "vault:<name>"` becomes.
    public func headerValue(secret name: String, for subject: CredentialSubject? = nil) async throws -> String {
        guard let first = try await headers(secret: name, for: subject).first else {
            throw VaultError(.corrupt, "vault secret `\(name)` injects no header")
        }
        return first.value
    }

    /// The secret itself (a header kind's value, a bearer token, a password, a fetched access token): what a stdio
    /// upstream's environment variable `"GITHUB_TOKEN": "vault:<name>"` becomes.
    public func rawValue(secret name: String) async throws -> String {
        let (kind, metadata, secret, version) = try await vault.reveal(name: name)
        switch kind {
        case .header: return secret["value"] ?? ""
        case .bearer: return secret["token"] ?? ""
        case .basic: return secret["password"] ?? ""
        case .oauthClientCredentials, .oauthTokenExchange, .oauthUser:
            return try await accessToken(name: name, kind: kind, version: version, metadata: metadata, secret: secret,
                                         subject: nil)
        }
    }

    /// Drops every cached access token (after a key rotation or a configuration reload).
    public func forgetTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    /// Drops the cached access tokens of one user for one secret (after a disconnect).
    public func forgetTokens(secret: String, user: String) {
        let key = Self.cacheKey(secret, user)
        state.withLock { $0.tokens[key] = nil }
    }

    // MARK: - Access tokens

    static func cacheKey(_ parts: String...) -> String { parts.joined(separator: "\u{0}") }

    private func accessToken(name: String, kind: VaultSecretKind, version: Int, metadata: [String: String],
                             secret: SecretValue, subject: CredentialSubject?) async throws -> String
    {
        let client = client
        let clock = clock
        switch kind {
        case .oauthClientCredentials:
            return try await cached(key: Self.cacheKey(name), version: String(version)) {
                var form = [("grant_type", "client_credentials")]
                for p in ["scope", "audience"] { if let v = metadata[p] { form.append((p, v)) } }
                return try await Self.tokenRequest(client: client, name: name, metadata: metadata, secret: secret,
                                                   form: form, now: clock(), grant: "client credentials").cached(version: String(version))
            }
        case .oauthTokenExchange:
            let user = try Self.user(of: subject, name: name)
            guard let assertionSigner else {
                throw VaultError(.credentialUnavailable, "vault secret `\(name)` exchanges tokens, but this gateway has no signer for user assertions")
            }
            let actors = subject?.actors ?? []
            return try await cached(key: Self.cacheKey(name, user, actors.joined(separator: " ")), version: String(version)) {
                // The assertion's audience is the authorization server: it must not be usable anywhere else.
                let assertion = try assertionSigner(user, actors, metadata["audience"] ?? metadata["token_url"] ?? "")
                var form = [("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                            ("subject_token", assertion),
                            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                            ("requested_token_type", metadata["requested_token_type"] ?? "urn:ietf:params:oauth:token-type:access_token")]
                for p in ["scope", "audience", "resource"] { if let v = metadata[p] { form.append((p, v)) } }
                return try await Self.tokenRequest(client: client, name: name, metadata: metadata, secret: secret,
                                                   form: form, now: clock(), grant: "token exchange").cached(version: String(version))
            }
        case .oauthUser:
            let user = try Self.user(of: subject, name: name)
            guard let grant = try await vault.revealGrant(secret: name, user: user) else {
                throw VaultError(.notConnected, "user \(Printable.clip(user, 80)) has not connected the per-user credential `\(name)`; no credential is injected")
            }
            let vault = vault
            let versions = "\(version)/\(grant.version)"
            return try await cached(key: Self.cacheKey(name, user), version: versions) {
                var form = [("grant_type", "refresh_token"), ("refresh_token", grant.refreshToken)]
                if let scope = metadata["scope"] { form.append(("scope", scope)) }
                let answer: TokenAnswer
                do {
                    answer = try await Self.tokenRequest(client: client, name: name, metadata: metadata, secret: secret,
                                                         form: form, now: clock(), grant: "refresh")
                } catch let e as VaultError where e.code == .grantRevoked {
                    // The authorization server no longer honours the refresh token: the user must connect again.
                    try? await vault.deleteGrant(secret: name, user: user)
                    throw VaultError(.notConnected, "the connection of user \(Printable.clip(user, 80)) for `\(name)` was revoked or expired at the authorization server; the user must connect again")
                }
                var stored = grant.version
                if let rotated = answer.refreshToken, rotated != grant.refreshToken {
                    // A rotated refresh token replaces the old one (the old one is now spent), unless the user
                    // reconnected meanwhile.
                    if try await vault.putGrant(secret: name, user: user, refreshToken: rotated, scope: answer.scope,
                                                expectedVersion: grant.version) {
                        stored += 1
                    }
                }
                return answer.cached(version: "\(version)/\(stored)")
            }
        case .header, .bearer, .basic:
            throw VaultError(.corrupt, "vault secret `\(name)` is not an OAuth credential")
        }
    }

    static func user(of subject: CredentialSubject?, name: String) throws(VaultError) -> String {
        guard let user = subject?.user, !user.isEmpty else {
            throw VaultError(.needsUser, "vault secret `\(name)` acts for the user in the delegation chain, and this call acts for no user; no credential is injected")
        }
        return user
    }

    private enum Step {
        case cached(String)
        case wait(Task<CachedToken, any Error>)
    }

    /// The token under `key` if it is fresh and of `version`, else the result of one `fetch` shared by every caller
    /// that asks meanwhile.
    private func cached(key: String, version: String, fetch: @escaping @Sendable () async throws -> CachedToken)
        async throws -> String
    {
        let now = clock()
        let step: Step = state.withLock { s in
            if let cached = s.tokens[key], cached.version == version, cached.expiresAt > now.addingTimeInterval(30) {
                return .cached(cached.token)
            }
            if let running = s.inFlight[key] { return .wait(running) }
            let task = Task { try await fetch() }
            s.inFlight[key] = task
            s.fetches += 1
            return .wait(task)
        }
        switch step {
        case .cached(let token):
            return token
        case .wait(let task):
            do {
                let fetched = try await task.value
                state.withLock { s in
                    s.tokens[key] = fetched
                    if s.inFlight[key] == task { s.inFlight[key] = nil }
                }
                return fetched.token
            } catch {
                state.withLock { s in if s.inFlight[key] == task { s.inFlight[key] = nil } }
                throw error
            }
        }
    }

    // MARK: - Talking to authorization servers

    struct TokenAnswer: Sendable {
        var accessToken: String
        var expiresIn: Double?
        var refreshToken: String?
        var scope: String?
        var now: Date

        /// Without `expires_in`, a token is used for a minute and a half, then fetched again.
        func cached(version: String) -> CachedToken {
            CachedToken(version: version, token: accessToken, expiresAt: now.addingTimeInterval(max(0, expiresIn ?? 90)))
        }
    }

    /// A token request (RFC 6749 §3.2) with the client authenticated as the secret says: HTTP basic (default), in the
    /// body, or not at all (a public client).
    static func tokenRequest(client: HTTPClient, name: String, metadata: [String: String], secret: SecretValue,
                             form: [(String, String)], now: Date, grant: String) async throws -> TokenAnswer {
        let clientID = metadata["client_id"] ?? ""
        let clientSecret = secret["client_secret"] ?? ""
        var form = form
        var request = HTTPClientRequest(url: metadata["token_url"] ?? "")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        switch metadata["auth_method"] {
        case "client_secret_post":
            form.append(("client_id", clientID))
            form.append(("client_secret", clientSecret))
        case "none":
            form.append(("client_id", clientID))
        default:
            let pair = "\(FormEncoding.encode(clientID)):\(FormEncoding.encode(clientSecret))"
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(10))
            bytes = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` could not be reached")
        }
        struct Answer: Decodable {
            var access_token: String?
            var expires_in: Double?
            var token_type: String?
            var refresh_token: String?
            var scope: String?
            var error: String?
        }
        let decoded = try? JSONDecoder().decode(Answer.self, from: Data(bytes.readableBytesView))
        guard response.status == .ok else {
            let error = decoded?.error.map { Printable.clip($0, 64) } ?? "no error code"
            if grant == "refresh", response.status == .badRequest, decoded?.error == "invalid_grant" {
                throw VaultError(.grantRevoked, "the authorization server for vault secret `\(name)` refused the refresh token (invalid_grant)")
            }
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` refused the \(grant) request (HTTP \(response.status.code), \(error))")
        }
        guard let decoded, let token = decoded.access_token, !token.isEmpty, Self.headerSafe(token) else {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` answered without a usable access token")
        }
        if let type = decoded.token_type, type.lowercased() != "bearer" {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` issued a `\(Printable.clip(type, 32))` token, not a bearer token")
        }
        if let refresh = decoded.refresh_token, refresh.isEmpty || !Self.headerSafe(refresh) {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` answered with an unusable refresh token")
        }
        return TokenAnswer(accessToken: token, expiresIn: decoded.expires_in, refreshToken: decoded.refresh_token,
                           scope: decoded.scope, now: now)
    }

    /// A token goes into a header: visible ASCII only (no CRLF injection from an authorization server's answer).
    static func headerSafe(_ token: String) -> Bool {
        token.utf8.count <= 16 * 1024 && !token.utf8.contains(where: { $0 < 0x21 || $0 > 0x7E })
    }
}
