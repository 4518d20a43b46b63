import Crypto
import Foundation
import PortcullisCore

/// JWK SHA-256 thumbprints (RFC 7638).
///
/// The hash input is built by hand, not by a JSON encoder: RFC 7638 §3 fixes
/// the exact bytes (only the required members, in lexicographic order, no
/// whitespace), and every member value is first checked to be plain base64url or
/// a known curve name, so no escaping question can arise.
enum JWKThumbprint {
    /// The base64url SHA-256 thumbprint of an EC, OKP or RSA JWK.
    static func compute(_ jwk: [String: JSONAny]) throws(JOSEFailure) -> String {
        let kty = try jwk.string("kty")
        let input: String
        switch kty {
        case "EC":
            let crv = try curve(jwk, allowed: ["P-256", "P-384", "P-521", "secp256k1"])
            let x = try member(jwk, "x")
            let y = try member(jwk, "y")
            input = #"{"crv":"\#(crv)","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        case "OKP":
            let crv = try curve(jwk, allowed: ["Ed25519", "Ed448", "X25519", "X448"])
            let x = try member(jwk, "x")
            input = #"{"crv":"\#(crv)","kty":"OKP","x":"\#(x)"}"#
        case "RSA":
            let e = try member(jwk, "e")
            let n = try member(jwk, "n")
            input = #"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#
        default:
            throw JOSEFailure("cannot compute a thumbprint for key type \(printable(kty ?? "?"))")
        }
        return Base64URL.encode(SHA256.hash(data: Data(input.utf8)))
    }

    private static func curve(_ jwk: [String: JSONAny], allowed: Set<String>) throws(JOSEFailure) -> String {
        guard let crv = try jwk.string("crv"), allowed.contains(crv) else {
            throw JOSEFailure("jwk crv is missing or unknown")
        }
        return crv
    }

    private static func member(_ jwk: [String: JSONAny], _ name: String) throws(JOSEFailure) -> String {
        guard let value = try jwk.string(name), Base64URL.isAlphabetOnly(value) else {
            throw JOSEFailure("jwk \(name) is missing or not base64url")
        }
        return value
    }
}
