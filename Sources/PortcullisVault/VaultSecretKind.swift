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

    /// The metadata keys the kind requires and allows, and its secret fields.
    var requiredMetadata: [String] {
        switch self {
        case .header: ["header"]
        case .bearer: []
        case .basic: ["username"]
        case .oauthClientCredentials: ["token_url", "client_id"]
        }
    }

    var optionalMetadata: [String] {
        switch self {
        case .header: ["prefix"]
        case .bearer, .basic: []
        case .oauthClientCredentials: ["scope", "audience", "auth_method"]
        }
    }

    public var secretFields: [String] {
        switch self {
        case .header: ["value"]
        case .bearer: ["token"]
        case .basic: ["password"]
        case .oauthClientCredentials: ["client_secret"]
        }
    }

    func validate(metadata: [String: String], secret: SecretValue) throws(VaultError) {
        for key in requiredMetadata where (metadata[key] ?? "").isEmpty {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret needs the parameter `\(key)`")
        }
        let allowed = Set(requiredMetadata + optionalMetadata)
        if let unknown = metadata.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw VaultError(.invalidInput, "a `\(rawValue)` secret has no parameter `\(unknown)` (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        for field in secretFields where (secret[field] ?? "").isEmpty {
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
        if self == .oauthClientCredentials, let url = metadata["token_url"],
           !(url.hasPrefix("https://") || url.hasPrefix("http://127.0.0.1") || url.hasPrefix("http://localhost")) {
            throw VaultError(.invalidInput, "a token_url must be https (plain http only to 127.0.0.1 or localhost)")
        }
    }
}
