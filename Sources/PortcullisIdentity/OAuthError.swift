/// An OAuth 2.0 error response (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §7).
///
/// Every failure of authentication, token issuance or token verification is one
/// of these, so the edge can render `{"error", "error_description"}` with the
/// right status and never leak a stack trace or fall through to success.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The registered error code, e.g. `invalid_client`.
    public let error: String
    /// A human-readable explanation (no secrets).
    public let description: String
    /// The HTTP status to answer with.
    public let status: Int

    public init(_ error: String, _ description: String, status: Int = 400) {
        self.error = error
        self.description = description
        self.status = status
    }

    public static func invalidRequest(_ d: String) -> OAuthError { OAuthError("invalid_request", d) }
    public static func invalidClient(_ d: String) -> OAuthError { OAuthError("invalid_client", d, status: 401) }
    public static func invalidGrant(_ d: String) -> OAuthError { OAuthError("invalid_grant", d) }
    public static func unauthorizedClient(_ d: String) -> OAuthError { OAuthError("unauthorized_client", d) }
    public static func unsupportedGrantType(_ d: String) -> OAuthError { OAuthError("unsupported_grant_type", d) }
    public static func invalidScope(_ d: String) -> OAuthError { OAuthError("invalid_scope", d) }
    public static func invalidTarget(_ d: String) -> OAuthError { OAuthError("invalid_target", d) }
    public static func invalidDPoPProof(_ d: String) -> OAuthError { OAuthError("invalid_dpop_proof", d) }
    public static func invalidToken(_ d: String) -> OAuthError { OAuthError("invalid_token", d, status: 401) }
    public static func invalidAuthorizationDetails(_ d: String) -> OAuthError {
        OAuthError("invalid_authorization_details", d)
    }
    /// The server cannot complete the request (misconfiguration or an internal failure); answered with 500.
    public static func serverError(_ d: String) -> OAuthError { OAuthError("server_error", d, status: 500) }
}
