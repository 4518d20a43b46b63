import Foundation
import PortcullisCore

/// A JWS in compact serialization (RFC 7515 §7.1), parsed but not yet verified.
///
/// Every verifier here reads tokens through this type rather than jwt-kit's
/// parser: jwt-kit decodes the header into a fixed struct (duplicate members and
/// unknown critical members pass unseen) and chooses the key from the header
/// before we can veto it. Parsing here only splits and decodes; ``checkHeader(_:)``
/// applies the refusals every verifier shares, and the caller then picks the key
/// itself, from its own trusted set, and only then checks the signature.
struct CompactJWS: Sendable {
    /// Refuse anything larger: no legitimate token of ours comes near it.
    static let maxLength = 64 * 1024

    /// The protected header, as parsed.
    let header: [String: JSONAny]
    /// The claim set (the payload must be a JSON object).
    let claims: [String: JSONAny]
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    let signingInput: Data
    /// The decoded signature.
    let signature: Data

    /// Splits, decodes and parses a compact JWS; nothing is verified yet.
    static func parse(_ token: String) throws(JOSEFailure) -> CompactJWS {
        guard token.utf8.count <= maxLength else { throw JOSEFailure("token is too large") }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw JOSEFailure(parts.count == 5 ? "encrypted tokens (JWE) are not accepted" : "not a compact JWS")
        }
        guard !parts[2].isEmpty else { throw JOSEFailure("signature is missing") }
        guard let headerBytes = Base64URL.decode(Substring(parts[0])) else {
            throw JOSEFailure("header is not base64url")
        }
        guard let payloadBytes = Base64URL.decode(Substring(parts[1])) else {
            throw JOSEFailure("payload is not base64url")
        }
        guard let signature = Base64URL.decode(Substring(parts[2])) else {
            throw JOSEFailure("signature is not base64url")
        }
        let header: [String: JSONAny]
        do {
            header = try StrictJSON.parseObject(headerBytes)
        } catch {
            throw JOSEFailure("header is not a JSON object: \(error.reason)")
        }
        let claims: [String: JSONAny]
        do {
            claims = try StrictJSON.parseObject(payloadBytes)
        } catch {
            throw JOSEFailure("payload is not a JSON object: \(error.reason)")
        }
        let signingInput = Data(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        return CompactJWS(header: header, claims: claims, signingInput: signingInput, signature: signature)
    }

    /// The header `alg`, checked against the refusals every verifier shares.
    ///
    /// In this order: `alg` must be a string and never `none` in any letter case;
    /// `crit`, `b64` and JWE members are refused (we understand no extensions);
    /// `jku`, `x5u` and `x5c` are refused, and `jwk` too unless `allowEmbeddedJWK`
    /// (DPoP proofs carry their key; nothing else may bring its own); `kid` and
    /// `typ` must be strings when present; finally `alg` must be one of `allowed`,
    /// compared byte for byte, which refuses HS256/RS256/… where only ES256 or
    /// EdDSA is expected.
    func checkHeader(allowed: Set<String>, allowEmbeddedJWK: Bool = false) throws(JOSEFailure) -> String {
        guard let algValue = header["alg"] else { throw JOSEFailure("header has no alg") }
        guard case .string(let alg) = algValue else { throw JOSEFailure("header alg is not a string") }
        guard alg.lowercased() != "none" else { throw JOSEFailure("alg none is refused") }
        if header["crit"] != nil { throw JOSEFailure("crit header is not supported") }
        if header["b64"] != nil { throw JOSEFailure("b64 header is not supported") }
        if header["enc"] != nil || header["zip"] != nil { throw JOSEFailure("encrypted tokens (JWE) are not accepted") }
        for name in ["jku", "x5u", "x5c"] where header[name] != nil {
            throw JOSEFailure("\(name) header is not trusted")
        }
        if !allowEmbeddedJWK, header["jwk"] != nil { throw JOSEFailure("jwk header is not trusted") }
        if let kid = header["kid"], kid.stringValue == nil { throw JOSEFailure("header kid is not a string") }
        if let typ = header["typ"], typ.stringValue == nil { throw JOSEFailure("header typ is not a string") }
        guard allowed.contains(where: { $0.utf8.elementsEqual(alg.utf8) }) else {
            throw JOSEFailure("alg \(printable(alg)) is not accepted")
        }
        return alg
    }

    /// The header `kid`, if any (``checkHeader(allowed:allowEmbeddedJWK:)`` made sure it is a string).
    var kid: String? { header["kid"]?.stringValue }

    /// Whether the header `typ` names `mediaType`, compared as RFC 7515 §4.1.9 says:
    /// case-insensitively, with an optional `application/` prefix.
    func hasType(_ mediaType: String) -> Bool {
        guard let typ = header["typ"]?.stringValue?.lowercased() else { return false }
        let bare = typ.hasPrefix("application/") ? String(typ.dropFirst("application/".count)) : typ
        return bare == mediaType.lowercased()
    }
}

/// Byte-for-byte string equality.
///
/// Swift's `==` on `String` compares by Unicode canonical equivalence, so two
/// identifiers with different bytes can be "equal". Identifiers (issuers, client
/// ids, audiences, key ids) are compared here by their bytes, as the RFCs say.
func sameBytes(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}
