import PortcullisCore

/// The JSON Web Key Set document (RFC 7517 §5) that publishes the server's public keys.
public enum JWKS {
    /// `{"keys":[…]}` with each key's public members, `kid`, `alg` and `use: "sig"`; private members never appear.
    public static func document(_ keys: [SigningKey]) -> String {
        SigningKey.encode(.object(["keys": .array(keys.map { .object($0.publicJWK) })]))
    }
}
