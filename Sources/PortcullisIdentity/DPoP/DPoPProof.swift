public import Foundation

/// A DPoP proof (RFC 9449) that ``DPoPVerifier`` accepted.
public struct DPoPProof: Sendable, Equatable {
    /// The RFC 7638 thumbprint of the proof's public key: bind tokens to it with `cnf.jkt`, or compare with it.
    public let jkt: String
    /// The proof's `jti`, now recorded in the replay cache.
    public let jti: String
    /// The proof's `iat`.
    public let issuedAt: Date
}
