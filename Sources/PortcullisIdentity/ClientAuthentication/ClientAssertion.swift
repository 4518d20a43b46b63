public import Foundation

/// A client assertion (`private_key_jwt`) that ``ClientAssertionVerifier`` accepted.
public struct ClientAssertion: Sendable, Equatable {
    /// The authenticated client: `iss`, `sub` and the request's `client_id` all name it.
    public let clientID: String
    /// The assertion's `jti`, now recorded in the replay cache.
    public let jti: String
    /// The assertion's `exp`.
    public let expiresAt: Date
    /// The agent's attested configuration digest, from the `agent_config_digest` claim (lowercase hex SHA-256).
    ///
    /// Our attestation convention: an agent proves which configuration it runs
    /// by putting ``PortcullisCore/AgentConfiguration/digest`` of it in every
    /// assertion it signs. Compare it with the agent's pinned digest; a mismatch
    /// is configuration drift. Nil when the agent did not include the claim.
    public let configDigest: String?
}
