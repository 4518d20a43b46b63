public import PortcullisCore

/// Checks that a JWK can authenticate an agent: an EC P-256 or OKP Ed25519
/// public key for signing, with no private members.
public enum AgentKeyValidation {
    /// Validates a registered public key.
    ///
    /// - Throws: ``OAuthError`` (`invalid_request`) naming what makes the key unusable.
    public static func validate(jwk: [String: JSONAny]) throws(OAuthError) {
        do {
            _ = try VerificationKey(jwk: jwk)
        } catch {
            throw .invalidRequest("unusable public key: \(error)")
        }
    }
}
