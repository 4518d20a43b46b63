public import Foundation
public import PortcullisCore

/// The agent's side of `private_key_jwt` (RFC 7523, RFC 6749 §4.4): a client-credentials token request with an
/// assertion signed by the agent's own key, as ``ClientAssertionVerifier`` checks it. One builder for every client
/// Portcullis ships (`portcullis agent token`, the `serve --demo` agent).
public enum ClientCredentialsRequest {
    /// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// The form fields of the request: the assertion lives 60 seconds and names the token endpoint as its audience;
    /// `configDigest` is the agent's attested configuration (`agent_config_digest`), when one is pinned.
    public static func form(clientID: String, key: SigningKey, tokenEndpoint: String, resource: String, scope: String,
                            configDigest: String? = nil, now: Date = Date()) throws(OAuthError) -> [(String, String)] {
        let issuedAt = Int64(now.timeIntervalSince1970)
        var claims: [String: JSONAny] = [
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(tokenEndpoint), "iat": .int(issuedAt),
            "exp": .int(issuedAt + 60), "jti": .string(UUID().uuidString),
        ]
        if let configDigest { claims["agent_config_digest"] = .string(configDigest) }
        return [
            ("grant_type", "client_credentials"), ("client_assertion_type", assertionType),
            ("client_assertion", try JWTSigner(key: key).sign(type: "JWT", claims: claims)),
            ("resource", resource), ("scope", scope),
        ]
    }
}
