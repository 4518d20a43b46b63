/// The JWS algorithms Portcullis signs and verifies with its own and its agents' keys.
///
/// Only asymmetric algorithms with small keys and no padding choices: ES256
/// (ECDSA P-256 with SHA-256, RFC 7518 §3.4) and EdDSA (Ed25519, RFC 8037).
public enum SigningAlgorithm: String, Sendable, Codable, CaseIterable {
    /// ECDSA on P-256 with SHA-256; signatures are the 64-byte `r || s`.
    case es256 = "ES256"
    /// Ed25519 (the only EdDSA curve accepted); signatures are 64 bytes.
    case eddsa = "EdDSA"

    /// The JWS `alg` names, for header checks.
    static let names: Set<String> = Set(allCases.map(\.rawValue))
}
