public import AsyncHTTPClient
public import Foundation
import NIOCore
import PortcullisCore
import NIOHTTP1
import Synchronization

/// Turns a vault reference into the headers an upstream request carries, just in time.
///
/// Static kinds (header, bearer, basic) open the sealed value for each request. OAuth client credentials fetch an
/// access token from the upstream's own authorization server, keep it until 30 s before it expires, and fetch it
/// once for all the calls that need it at the same moment (single flight); a new version of the secret
/// (`vault rotate`) drops the cached token.
public final class CredentialInjector: Sendable {
    let vault: Vault
    let client: HTTPClient
    let clock: @Sendable () -> Date

    private struct CachedToken: Sendable {
        var version: Int
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

    public init(vault: Vault, client: HTTPClient, clock: @escaping @Sendable () -> Date = Date.init) {
        self.vault = vault
        self.client = client
        self.clock = clock
    }

    /// How many access tokens were fetched from authorization servers so far.
    public var tokenFetches: Int { state.withLock { $0.fetches } }

    /// The headers for the secret `name` (a `vault:` reference without its prefix).
    public func headers(secret name: String) async throws -> [(name: String, value: String)] {
        let (kind, metadata, secret, version) = try await vault.reveal(name: name)
        switch kind {
        case .header:
            return [(metadata["header"]!, (metadata["prefix"] ?? "") + (secret["value"] ?? ""))]
        case .bearer:
            return [("Authorization", "Bearer " + (secret["token"] ?? ""))]
        case .basic:
            let pair = Data("\(metadata["username"] ?? ""):\(secret["password"] ?? "")".utf8).base64EncodedString()
            return [("Authorization", "Basic " + pair)]
        case .oauthClientCredentials:
            let token = try await accessToken(name: name, version: version, metadata: metadata, secret: secret)
            return [("Authorization", "Bearer " + token)]
        }
    }

    /// The value of the header the secret `name` injects (`Bearer …`, `Basic …`, or a header kind's prefixed value):
    /// what an MCP upstream's configured header `"Authorization": "vault:<name>"` becomes.
    public func headerValue(secret name: String) async throws -> String {
        guard let first = try await headers(secret: name).first else {
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
        case .oauthClientCredentials:
            return try await accessToken(name: name, version: version, metadata: metadata, secret: secret)
        }
    }

    /// Drops every cached access token (after a key rotation or a configuration reload).
    public func forgetTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    private enum Step {
        case cached(String)
        case wait(Task<CachedToken, any Error>)
    }

    private func accessToken(name: String, version: Int, metadata: [String: String], secret: SecretValue) async throws
        -> String
    {
        let now = clock()
        let step: Step = state.withLock { s in
            if let cached = s.tokens[name], cached.version == version, cached.expiresAt > now.addingTimeInterval(30) {
                return .cached(cached.token)
            }
            if let running = s.inFlight[name] { return .wait(running) }
            // One fetch for every concurrent caller: the task is shared, not per call.
            let task = Task { [client, clock] in
                try await Self.fetch(client: client, name: name, metadata: metadata, secret: secret, version: version,
                                     now: clock())
            }
            s.inFlight[name] = task
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
                    s.tokens[name] = fetched
                    if s.inFlight[name] == task { s.inFlight[name] = nil }
                }
                return fetched.token
            } catch {
                state.withLock { s in if s.inFlight[name] == task { s.inFlight[name] = nil } }
                throw error
            }
        }
    }

    /// The client-credentials grant (RFC 6749 §4.4), client authenticated with HTTP basic (default) or in the body.
    private static func fetch(client: HTTPClient, name: String, metadata: [String: String], secret: SecretValue,
                              version: Int, now: Date) async throws -> CachedToken {
        let clientID = metadata["client_id"] ?? ""
        let clientSecret = secret["client_secret"] ?? ""
        var form = [("grant_type", "client_credentials")]
        if let scope = metadata["scope"] { form.append(("scope", scope)) }
        if let audience = metadata["audience"] { form.append(("audience", audience)) }
        var request = HTTPClientRequest(url: metadata["token_url"] ?? "")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if metadata["auth_method"] == "client_secret_post" {
            form.append(("client_id", clientID))
            form.append(("client_secret", clientSecret))
        } else {
            let pair = "\(FormEncoding.encode(clientID)):\(FormEncoding.encode(clientSecret))"
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        }
        let body = FormEncoding.encode(form)
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(10))
            bytes = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` could not be reached")
        }
        guard response.status == .ok else {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` refused the client credentials (HTTP \(response.status.code))")
        }
        struct TokenResponse: Decodable {
            var access_token: String
            var expires_in: Double?
            var token_type: String?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(bytes.readableBytesView)),
              !decoded.access_token.isEmpty,
              !decoded.access_token.utf8.contains(where: { $0 < 0x21 || $0 > 0x7E }) else {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` answered without a usable access token")
        }
        if let type = decoded.token_type, type.lowercased() != "bearer" {
            throw VaultError(.credentialUnavailable, "the authorization server for vault secret `\(name)` issued a `\(type)` token, not a bearer token")
        }
        // Without expires_in, the token is used for a minute and fetched again.
        return CachedToken(version: version, token: decoded.access_token,
                           expiresAt: now.addingTimeInterval(max(0, decoded.expires_in ?? 90)))
    }
}
