import Foundation
public import PortcullisCore

/// Signs JWTs (compact JWS) with one of the server's ``SigningKey``s.
///
/// Hand-written rather than jwt-kit's `JWTKeyCollection.sign`, which wants a
/// fixed `Codable` payload type: our claims are open-ended JSON (`act`,
/// `authorization_details`), and the header must carry exactly `alg`, `kid` and
/// `typ` as set here. Header and claims are encoded with sorted members and no
/// whitespace.
public struct JWTSigner: Sendable {
    /// Header members the caller may not set: they are ours, or they would make verifiers fetch or trust a key.
    static let reservedHeaderMembers: Set<String> = ["alg", "kid", "typ", "crit", "b64", "jwk", "jku", "x5u", "x5c"]

    /// The key that signs.
    public let key: SigningKey

    /// A signer using `key`.
    public init(key: SigningKey) {
        self.key = key
    }

    /// The compact JWS of `claims` with header `{alg, kid, typ}` plus `extra`.
    ///
    /// - Parameters:
    ///   - extra: Additional header members; none of `alg`, `kid`, `typ`, `crit`, `b64`, `jwk`, `jku`, `x5u`, `x5c`.
    ///   - type: The `typ` header, e.g. `at+jwt` for access tokens (RFC 9068).
    ///   - claims: The claim set.
    /// - Throws: ``OAuthError/serverError(_:)`` for a reserved header member or claims that cannot be encoded.
    public func sign(header extra: [String: JSONAny] = [:], type: String, claims: [String: JSONAny])
        throws(OAuthError) -> String
    {
        if let reserved = extra.keys.first(where: Self.reservedHeaderMembers.contains) {
            throw .serverError("header member \(reserved) cannot be set by the caller")
        }
        var header = extra
        header["alg"] = .string(key.algorithm.rawValue)
        header["kid"] = .string(key.kid)
        header["typ"] = .string(type)
        return try Self.compact(header: header, claims: claims, key: key)
    }

    /// The compact JWS of `claims` under exactly `header`, signed with `key` (canonical JSON, base64url).
    static func compact(header: [String: JSONAny], claims: [String: JSONAny], key: SigningKey) throws(OAuthError) -> String {
        let headerJSON: Data
        let claimsJSON: Data
        do {
            headerJSON = try JSONEncoder.canonical.encode(JSONAny.object(header))
            claimsJSON = try JSONEncoder.canonical.encode(JSONAny.object(claims))
        } catch {
            throw .serverError("token claims cannot be encoded as JSON")
        }
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(claimsJSON)
        let signature = try key.signature(for: Data(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }
}
