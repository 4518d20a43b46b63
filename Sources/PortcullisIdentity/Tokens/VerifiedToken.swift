public import Foundation
public import PortcullisCore

/// An access token whose signature, header and claims ``AccessTokenVerifier`` accepted.
public struct VerifiedToken: Sendable, Equatable {
    /// The protected header.
    public let header: [String: JSONAny]
    /// Every claim, including those without a property here (`authorization_details`, …).
    public let claims: [String: JSONAny]
    /// The token id (`jti`), for revocation and introspection.
    public let jti: String
    /// The subject (`sub`): the user or agent the token speaks for.
    public let sub: String
    /// The OAuth client (`client_id`) the token was issued to.
    public let clientID: String
    /// The granted scopes: the space-delimited `scope` claim, split; empty when absent.
    public let scope: [String]
    /// The audiences (`aud`), always as a list.
    public let aud: [String]
    /// When the token expires (`exp`).
    public let exp: Date
    /// When the token was issued (`iat`).
    public let iat: Date
    /// The DPoP key thumbprint (`cnf.jkt`, RFC 9449 §6.1) when the token is sender-constrained.
    public let cnfJKT: String?
    /// The delegation chain (`act`, RFC 8693 §4.1): the current actor, its `act` the one before, and so on.
    public let act: JSONAny?
}
