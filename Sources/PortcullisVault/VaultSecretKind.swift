import Foundation

/// What a secret is and how it is sent upstream. Parameters that are not secret live in the metadata (shown by
/// `vault list`); the secret fields are sealed.
public enum VaultSecretKind: String, Sendable, CaseIterable, Codable {
    /// A header with a static value (an API key): metadata `header` (and optional `prefix`, e.g. `Token `);
    /// secret `value`.
    case header
    /// `Authorization: Bearer <token>`: secret `token`.
    case bearer
    /// HTTP basic authentication: metadata `username`; secret `password`.
    case basic
    /// OAuth 2.0 client credentials against the upstream's own authorization server: metadata `token_url`,
    /// `client_id` (optional `scope`, `audience`); secret `client_secret`. The access token is cached until shortly
    /// before it expires and fetched once for all concurrent calls.
    case oauthClientCredentials = "oauth_client_credentials"
    /// RFC 8693 token exchange at the upstream's authorization server, for calls on behalf of the user in the
    /// delegation chain: Portcullis signs a short assertion (`sub` the user, `act` the agents, `aud` the
    /// authorization server) and exchanges it for an access token for that user. Metadata `token_url`, `client_id`
    /// (optional `audience`, `resource`, `scope`, `auth_method`, `requested_token_type`); secret `client_secret`.
    /// An agent acting for nobody gets no token.
    case oauthTokenExchange = "oauth_token_exchange"
    /// Per-user credentials: each user connects once through an authorization-code + PKCE consent flow that
    /// Portcullis serves (`/connect/<upstream>`); their refresh token is stored under (secret, user). An agent acting
    /// for a user gets that user's access token; an agent acting for nobody or for a user who has not connected gets
    /// none. Metadata `authorize_url`, `token_url`, `client_id` (optional `scope`, `auth_method`, `resource`,
    /// `issuer`); secret `client_secret` (optional: a public client relies on PKCE alone).
    case oauthUser = "oauth_user"

    /// The metadata keys the kind requires and allows, and its secret fields.
    var requiredMetadata: [String] {
        switch self {
        case .header: ["header"]
        case .bearer: []
        case .basic: ["username"]
        case .oauthClientCredentials, .oauthTokenExchange: ["token_url", "client_id"]
        case .oauthUser: ["authorize_url", "token_url", "client_id"]
        }
    }

    var optionalMetadata: [String] {
        switch self {
        case .header: ["prefix"]
        case .bearer, .basic: []
        case .oauthClientCredentials: ["scope", "audience", "auth_method"]
        case .oauthTokenExchange: ["scope", "audience", "resource", "auth_method", "requested_token_type"]
        case .oauthUser: ["scope", "resource", "auth_method", "issuer"]
        }
    }

    /// The secret fields the kind accepts.
    public var secretFields: [String] {
        switch self {
        case .header: ["value"]
        case .bearer: ["token"]
        case .basic: ["password"]
        case .oauthClientCredentials, .oauthTokenExchange, .oauthUser: ["client_secret"]
        }
    }

    /// The secret fields that must be present.
    var requiredSecretFields: [String] { self == .oauthUser ? [] : secretFields }

    /// Whether the credential acts for the user in the delegation chain (and so is injected only for one).
    public var isPerUser: Bool { self == .oauthUser || self == .oauthTokenExchange }

    func validate(metadata: [String: String], secret: SecretValue) throws(VaultError) {
        for key in requiredMetadata where (metadata[key] ?? "").isEmpty {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret needs the parameter `\(key)`")
        }
        let allowed = Set(requiredMetadata + optionalMetadata)
        if let unknown = metadata.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret has no parameter `\(unknown)` (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        for field in requiredSecretFields where (secret[field] ?? "").isEmpty {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret needs the secret field `\(field)`")
        }
        if let unknown = secret.fields.keys.sorted().first(where: { !secretFields.contains($0) }) {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret has no secret field `\(unknown)`")
        }
        // A value that would break a header line (CRLF injection into the upstream request) is refused here.
        for value in Array(metadata.values) + Array(secret.fields.values)
        where value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            throw VaultError(.invalidInput, "a vault value or parameter contains a line break or NUL")
        }
        if self == .header, let header = metadata["header"] {
            let token = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~")
            guard header.allSatisfy(token.contains) else {
                throw VaultError(.invalidInput, "`\(header)` is not a valid header name")
            }
        }
        for key in ["token_url", "authorize_url"] {
            if let url = metadata[key], !Self.acceptable(url: url) {
                throw VaultError(.invalidInput, "\(key) must be an https URL (plain http only to 127.0.0.1 or localhost)")
            }
        }
        if let method = metadata["auth_method"] {
            let allowed = self == .oauthUser ? ["client_secret_basic", "client_secret_post", "none"]
                                             : ["client_secret_basic", "client_secret_post"]
            guard allowed.contains(method) else {
                throw VaultError(.invalidInput, "auth_method must be one of \(allowed.joined(separator: ", "))")
            }
            if method == "none", !(secret["client_secret"] ?? "").isEmpty {
                throw VaultError(.invalidInput, "auth_method `none` is a public client: it takes no client_secret")
            }
        }
        if self == .oauthUser, metadata["auth_method"] != "none", (secret["client_secret"] ?? "").isEmpty {
            throw VaultError(.invalidInput, "an `oauth_user` secret needs the secret field `client_secret` unless auth_method is `none`")
        }
    }

    static func acceptable(url: String) -> Bool {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host,
              !host.isEmpty, parsed.user == nil, parsed.fragment == nil else { return false }
        return scheme == "https" || (scheme == "http" && (host == "127.0.0.1" || host == "localhost"))
    }
}
