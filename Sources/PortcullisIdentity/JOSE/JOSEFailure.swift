/// Why a JOSE object (JWS, JWK, claim set) was refused, before it is mapped to an ``OAuthError``.
///
/// The verifiers share one parser and one set of header checks; each maps this
/// reason to its own OAuth error code (`invalid_token`, `invalid_client`, …).
struct JOSEFailure: Error, Sendable, Equatable {
    /// A human-readable reason with no secrets in it.
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

/// `text` when it is short and printable ASCII without quotes or backslashes, else a placeholder.
///
/// Error descriptions travel in `error_description`, which RFC 6749 §5.2
/// limits to that character set; attacker-chosen values are echoed only when
/// they fit it.
func printable(_ text: String) -> String {
    let fits =
        text.utf8.count <= 64
        && text.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    return fits ? text : "(unprintable)"
}
