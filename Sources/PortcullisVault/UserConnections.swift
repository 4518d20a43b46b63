public import AsyncHTTPClient
import Crypto
public import Foundation
import PortcullisCore
import Synchronization

/// The consent flow by which a user connects a per-user (`oauth_user`) credential once: OAuth 2.0 authorization
/// code with PKCE (RFC 7636, S256) against the upstream's authorization server, served by Portcullis.
///
/// 1. The user, authenticated by their identity provider's token, asks for a **ticket** (single use, 10 minutes).
/// 2. The browser opens the ticket's page, which names the user and the upstream; confirming it **begins** the flow:
///    a random `state` and PKCE verifier are kept here (never stored, never sent to the browser), a random binding
///    goes to the browser as a cookie, and the browser is sent to the authorization server.
/// 3. The authorization server sends the browser back to the **callback** with a code; the flow completes only for
///    the `state` it began with, in the browser that holds the binding, once. The code and verifier are redeemed
///    for a refresh token, which the vault seals under (secret, user).
///
/// Pending tickets and flows live in memory: a restart only makes a user start again.
public final class UserConnections: Sendable {
    let vault: Vault
    let client: HTTPClient
    let clock: @Sendable () -> Date
    /// How long a ticket and a started flow stay usable.
    public static let lifetime: TimeInterval = 600
    /// At most this many pending tickets plus flows (a bound on memory, whatever callers do).
    static let capacity = 10_000

    public struct Ticket: Sendable, Equatable {
        public var secret: String
        public var upstream: String
        public var user: String
        public var expiresAt: Date
    }

    struct Flow: Sendable {
        var ticket: Ticket
        var verifier: String
        var bindingDigest: [UInt8]
        var redirectURI: String
    }

    private struct State: Sendable {
        var tickets: [String: Ticket] = [:]
        var flows: [String: Flow] = [:]

        mutating func prune(_ now: Date) {
            tickets = tickets.filter { $0.value.expiresAt > now }
            flows = flows.filter { $0.value.ticket.expiresAt > now }
        }
    }

    private let state = Mutex(State())

    public init(vault: Vault, client: HTTPClient, clock: @escaping @Sendable () -> Date = Date.init) {
        self.vault = vault
        self.client = client
        self.clock = clock
    }

    /// The outcome of a completed flow.
    public struct Connected: Sendable, Equatable {
        public var secret: String
        public var upstream: String
        public var user: String
        public var scope: String?
    }

    /// A single-use ticket that lets a browser begin connecting `secret` (an `oauth_user` secret) for `user`.
    public func issueTicket(secret: String, upstream: String, user: String) async throws -> (ticket: String, expiresAt: Date) {
        guard let entry = try await vault.entry(name: secret), entry.kind == VaultSecretKind.oauthUser.rawValue else {
            throw VaultError(.notFound, "`\(upstream)` has no per-user credential to connect")
        }
        let now = clock()
        let ticket = Hex.random(32)
        let expiry = now.addingTimeInterval(Self.lifetime)
        try state.withLock { s throws(VaultError) in
            s.prune(now)
            guard s.tickets.count + s.flows.count < Self.capacity else {
                throw VaultError(.credentialUnavailable, "too many connections are pending; try again in a few minutes")
            }
            s.tickets[ticket] = Ticket(secret: secret, upstream: upstream, user: user, expiresAt: expiry)
        }
        return (ticket, expiry)
    }

    /// What a ticket is for, without using it up (for the confirmation page); nil when unknown or expired.
    public func peek(ticket: String) -> Ticket? {
        let now = clock()
        return state.withLock { s in s.tickets[ticket].flatMap { $0.expiresAt > now ? $0 : nil } }
    }

    /// Uses up `ticket` and starts the flow: returns where to send the browser and the binding to set as its
    /// cookie (the callback completes only with it).
    public func begin(ticket: String, redirectURI: String) async throws
        -> (authorizationURL: String, binding: String, ticket: Ticket)
    {
        let now = clock()
        guard let t = state.withLock({ s in s.tickets.removeValue(forKey: ticket) }), t.expiresAt > now else {
            throw VaultError(.invalidInput, "this connection link is unknown, used or expired; ask for a new one")
        }
        let (_, metadata, _, _) = try await vault.reveal(name: t.secret)
        let verifier = Hex.random(32)
        let challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
        let stateValue = Hex.random(32)
        let binding = Hex.random(32)
        var query: [(String, String)] = [("response_type", "code"), ("client_id", metadata["client_id"] ?? ""),
                                         ("redirect_uri", redirectURI), ("state", stateValue),
                                         ("code_challenge", challenge), ("code_challenge_method", "S256")]
        if let scope = metadata["scope"] { query.append(("scope", scope)) }
        if let resource = metadata["resource"] { query.append(("resource", resource)) }
        let base = metadata["authorize_url"] ?? ""
        let url = base + (base.contains("?") ? "&" : "?") + FormEncoding.encode(query)
        state.withLock { s in
            s.flows[stateValue] = Flow(ticket: Ticket(secret: t.secret, upstream: t.upstream, user: t.user,
                                                      expiresAt: now.addingTimeInterval(Self.lifetime)),
                                       verifier: verifier, bindingDigest: Array(SHA256.hash(data: Array(binding.utf8))),
                                       redirectURI: redirectURI)
        }
        return (url, binding, t)
    }

    /// Completes the flow that began with `state`, in the browser holding `binding`: redeems `code` and stores the
    /// user's refresh token. A flow completes once; an error from the authorization server ends it with nothing
    /// stored.
    ///
    /// - Parameters:
    ///   - error: The authorization server's `error` parameter, when the user refused or it failed.
    ///   - issuer: The `iss` parameter (RFC 9207), checked against the secret's `issuer` when one is configured.
    ///   - record: Makes the connection's audit record durable; called once the code is redeemed and before the
    ///     grant is stored (nothing is stored when it throws).
    public func complete(state stateValue: String, binding: String?, code: String?, error: String?, issuer: String?,
                         record: @Sendable (Connected) async throws -> Void) async throws -> Connected
    {
        let now = clock()
        guard let flow = state.withLock({ s in s.flows.removeValue(forKey: stateValue) }), flow.ticket.expiresAt > now else {
            throw VaultError(.invalidInput, "this consent answer matches no connection in progress (unknown, used or expired `state`)")
        }
        guard let binding, Self.same(Array(SHA256.hash(data: Array(binding.utf8))), flow.bindingDigest) else {
            throw VaultError(.invalidInput, "this consent answer arrived in another browser than the one that began the connection; nothing was connected")
        }
        if let error {
            throw VaultError(.credentialUnavailable, "the authorization server ended the connection: \(Printable.clip(error, 64)); nothing was connected")
        }
        guard let code, !code.isEmpty, code.utf8.count <= 4096 else {
            throw VaultError(.invalidInput, "the consent answer carries no authorization code")
        }
        let (_, metadata, secret, _) = try await vault.reveal(name: flow.ticket.secret)
        if let expected = metadata["issuer"], issuer != expected {
            // RFC 9207: a code from another authorization server (mix-up attack) is never redeemed.
            throw VaultError(.invalidInput, "the consent answer comes from another authorization server than `\(flow.ticket.secret)`'s; nothing was connected")
        }
        let answer = try await CredentialInjector.tokenRequest(
            client: client, name: flow.ticket.secret, metadata: metadata, secret: secret,
            form: [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", flow.redirectURI),
                   ("code_verifier", flow.verifier)],
            now: now, grant: "authorization code")
        guard let refresh = answer.refreshToken else {
            throw VaultError(.credentialUnavailable, "the authorization server issued no refresh token for `\(flow.ticket.upstream)` (the client may need offline access); nothing was connected")
        }
        let connected = Connected(secret: flow.ticket.secret, upstream: flow.ticket.upstream, user: flow.ticket.user,
                                  scope: answer.scope ?? metadata["scope"])
        try await record(connected)
        try await vault.putGrant(secret: flow.ticket.secret, user: flow.ticket.user, refreshToken: refresh,
                                 scope: connected.scope)
        return connected
    }

    /// How many tickets and flows are pending (tests check that they are used once).
    public var pending: Int { state.withLock { $0.tickets.count + $0.flows.count } }

    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
