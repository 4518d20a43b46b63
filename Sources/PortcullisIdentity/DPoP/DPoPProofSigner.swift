import Crypto
public import Foundation
public import PortcullisCore

/// Makes RFC 9449 DPoP proofs: the client side of ``DPoPVerifier``.
///
/// For clients written in Swift (the benchmarks' load generator, and Portcullis itself when it calls
/// a DPoP-protected upstream). Written here rather than with ``JWTSigner``, which refuses a `jwk`
/// header on purpose: a proof carries its public key, a server token never does.
public struct DPoPProofSigner: Sendable {
    /// The client's proof-of-possession key.
    public let key: SigningKey

    public init(key: SigningKey) {
        self.key = key
    }

    /// The RFC 7638 thumbprint the server binds tokens to (`cnf.jkt`).
    public var thumbprint: String {
        get throws(OAuthError) { try DPoPVerifier.thumbprint(jwk: publicJWK) }
    }

    /// The public key as the proof header carries it (no `kid`, `alg` or `use`).
    var publicJWK: [String: JSONAny] {
        key.publicJWK.filter { !["kid", "alg", "use"].contains($0.key) }
    }

    /// A fresh proof for one request.
    ///
    /// - Parameters:
    ///   - method: The HTTP method (`htm`).
    ///   - url: The request URL without query and fragment (`htu`).
    ///   - accessToken: The token the request carries; its hash goes into `ath`.
    ///   - nonce: A server-provided nonce, if the server asked for one.
    public func proof(method: String, url: String, accessToken: String? = nil, nonce: String? = nil, now: Date = Date())
        throws(OAuthError) -> String
    {
        let header: [String: JSONAny] = [
            "typ": .string(DPoPVerifier.proofType), "alg": .string(key.algorithm.rawValue), "jwk": .object(publicJWK),
        ]
        var claims: [String: JSONAny] = [
            "htm": .string(method), "htu": .string(url), "iat": .int(Int64(now.timeIntervalSince1970)),
            "jti": .string(RandomJTI.make()),
        ]
        if let accessToken { claims["ath"] = .string(Base64URL.encode(Data(SHA256.hash(data: Data(accessToken.utf8))))) }
        if let nonce { claims["nonce"] = .string(nonce) }
        return try JWTSigner.compact(header: header, claims: claims, key: key)
    }
}

/// Random `jti` values: 128 bits, base64url.
enum RandomJTI {
    static func make() -> String {
        var g = SystemRandomNumberGenerator()
        return Base64URL.encode(Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &g) }))
    }
}
