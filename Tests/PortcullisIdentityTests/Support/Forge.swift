import Crypto
import Foundation
import PortcullisCore

@testable import PortcullisIdentity

/// Builds JWTs by hand, including malicious ones: base64url header, payload and signature strings.
enum Forge {
    /// The fixed clock of every test.
    static let now = Date(timeIntervalSince1970: 1_760_000_000)
    static let nowSeconds: Int64 = 1_760_000_000

    /// Unpadded base64url of bytes.
    static func b64(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Unpadded base64url of a text's UTF-8.
    static func b64(_ text: String) -> String { b64(Data(text.utf8)) }

    /// Canonical JSON text of an object.
    static func json(_ object: [String: JSONAny]) -> String {
        String(decoding: try! JSONEncoder.canonical.encode(JSONAny.object(object)), as: UTF8.self)
    }

    /// `b64(header).b64(payload).signature` from raw JSON texts and a raw signature segment.
    static func token(header: String, payload: String, signature: String) -> String {
        "\(b64(header)).\(b64(payload)).\(signature)"
    }

    /// A token whose header and payload are the given raw JSON texts, signed with `key`.
    static func signed(header: String, payload: String, key: SigningKey) -> String {
        let input = "\(b64(header)).\(b64(payload))"
        return "\(input).\(b64(try! key.signature(for: Data(input.utf8))))"
    }

    /// A token with the given header and claims objects, signed with `key`.
    static func signed(header: [String: JSONAny], claims: [String: JSONAny], key: SigningKey) -> String {
        signed(header: json(header), payload: json(claims), key: key)
    }

    /// A token with the given header and claims, signed with HMAC-SHA256 under `secret` (for alg-confusion attempts).
    static func hmac(header: [String: JSONAny], claims: [String: JSONAny], secret: Data) -> String {
        let input = "\(b64(json(header))).\(b64(json(claims)))"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
        return "\(input).\(b64(Data(mac)))"
    }

    /// A token whose signature segment is replaced by `signature`.
    static func replacingSignature(of token: String, with signature: Data) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return "\(parts[0]).\(parts[1]).\(b64(signature))"
    }

    /// The decoded signature of a token.
    static func signature(of token: String) -> Data {
        Base64URL.decode(token.split(separator: ".", omittingEmptySubsequences: false)[2])!
    }

    /// A base64url segment whose last character is changed to set an unused trailing bit:
    /// the same bytes to a lenient decoder, a non-canonical encoding to a strict one.
    static func settingTrailingBit(_ segment: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = alphabet.firstIndex(of: segment.last!)!
        return String(segment.dropLast()) + String(alphabet[last ^ 1])
    }

    /// A key's public JWK without `kid`, `alg` and `use`: what a client puts in a DPoP `jwk` header.
    static func bareJWK(_ key: SigningKey) -> [String: JSONAny] {
        key.publicJWK.filter { !["kid", "alg", "use"].contains($0.key) }
    }

    /// The P-256 group order n, big-endian.
    static let p256Order = Data([
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ])
}

/// Reference values computed with the Python library joserfc 1.8.0 (see the test that uses each).
enum Joserfc {
    static let ecPrivateJWK = #"""
        {"crv":"P-256","x":"9IyqhxSGKsfI4PGqdHJ7cSQdrJktCuEH8TRLs1lbWfw","y":"LSznfDixgCnh5P7Dh8BL0pwq5zAIGHeneIi0BCZqtAo","d":"OZlMuC_8gvBBXOX3QH6ag169dPZryT1B3fkNmWaau8w","kty":"EC"}
        """#
    static let ecPublicJWK: [String: JSONAny] = [
        "crv": .string("P-256"), "kty": .string("EC"),
        "x": .string("9IyqhxSGKsfI4PGqdHJ7cSQdrJktCuEH8TRLs1lbWfw"),
        "y": .string("LSznfDixgCnh5P7Dh8BL0pwq5zAIGHeneIi0BCZqtAo"),
    ]
    static let ecThumbprint = "PhgyuCbRo6bX-v-8QgFgXN8xTRlHZJ2-vID0ADakJkg"

    static let okpPrivateJWK = #"""
        {"crv":"Ed25519","x":"ksoqx7lKUgIGyT3uLHLq_4k9tzcDEsoJVzBO8tQ8GIs","d":"o81uVVVhNW3HFMvDZqeyw74BDo9aKhDrDekfkkgu1fQ","kty":"OKP"}
        """#
    static let okpPublicJWK: [String: JSONAny] = [
        "crv": .string("Ed25519"), "kty": .string("OKP"), "x": .string("ksoqx7lKUgIGyT3uLHLq_4k9tzcDEsoJVzBO8tQ8GIs"),
    ]
    static let okpThumbprint = "NJbItrAJ_xXGWwWpUljw8CErrElIYeDOoIkvWL2wBfU"

    /// `jwt.encode({"alg":"ES256","typ":"dpop+jwt","jwk":<ecPublicJWK>}, {"htm":"POST",
    /// "htu":"https://as.example.com/token","iat":1760000000,"jti":"joserfc-proof-1"}, ec_key)`.
    static let dpopProof =
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7ImNydiI6IlAtMjU2IiwieCI6IjlJeXFoeFNHS3NmSTRQR3FkSEo3Y1NRZHJKa3RDdUVIOFRSTHMxbGJXZnciLCJ5IjoiTFN6bmZEaXhnQ25oNVA3RGg4QkwwcHdxNXpBSUdIZW5lSWkwQkNacXRBbyIsImt0eSI6IkVDIn19.eyJodG0iOiJQT1NUIiwiaHR1IjoiaHR0cHM6Ly9hcy5leGFtcGxlLmNvbS90b2tlbiIsImlhdCI6MTc2MDAwMDAwMCwianRpIjoiam9zZXJmYy1wcm9vZi0xIn0.Jun-BK4zoiZGwHRMUtwjike9i2FMIAlP4H_73zrZx6tmtwmHIgrxpMWMXQT5anOi4lNRaOxBhSEzVaB2KnoPmg"

    /// `jwt.encode({"alg":"EdDSA","typ":"JWT"}, {"iss":"agt_interop","sub":"agt_interop",
    /// "aud":"https://as.example.com","iat":1760000000,"exp":1760000120,"jti":"joserfc-assertion-1"}, okp_key)`.
    static let clientAssertion =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSJ9.eyJpc3MiOiJhZ3RfaW50ZXJvcCIsInN1YiI6ImFndF9pbnRlcm9wIiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlLmNvbSIsImlhdCI6MTc2MDAwMDAwMCwiZXhwIjoxNzYwMDAwMTIwLCJqdGkiOiJqb3NlcmZjLWFzc2VydGlvbi0xIn0.LkkiorurmyvhX5RozKb7TkEN6-43bdzh1J2WbgATGh8AgsCx866SHmwzAj52hLZ4qVXMl4f0yWPr29L1ctZXBA"

    /// An IdP's JWKS with one RSA-2048 key, `kid` `rsa-1`.
    static let idpJWKS = #"""
        {"keys":[{"n":"sOygNSxHg28dm-zkGTPzoC9rLWGKJi2pBxxW_PbexJHMEglmiRoe-EDvD9b3Kz7PzGZ0FARixLPOd4rWmezDishrXuNp_WT8AO2HptyjJWp52_x7z334vXaaPahfg1KvBAUWk7H0-34tuL4kLYIza48-etmXOaCackPy4AOhxpop7IxEpgjuCj5i_rSVTF_X4sWxJ8qQl-_H0LXzMNp7PF7cWWuAUYAeg-iCsTFNCpsNDjQQQmMeLV-odZTaIYTv-ftOa5wqQyv0yGROt_8aC_jpkKvMnYbwmlIwPorUGOVjXBDWmNEzPyej-oh-1-CgxYWof4FRp34GLFox35l8gw","e":"AQAB","kty":"RSA","kid":"rsa-1","use":"sig"}]}
        """#
    static let rsaThumbprint = "Ci1I-4JIQUv3rU-HLV8Wc3HU0NFUwl8im7wZW0Kejw4"

    /// RS256 with `kid: rsa-1`, claims `{"iss":"https://idp.example.com","sub":"alice","aud":"portcullis",
    /// "iat":1759999940,"exp":1760003600}`.
    static let idpTokenRS256 =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6ImFsaWNlIiwiYXVkIjoicG9ydGN1bGxpcyIsImlhdCI6MTc1OTk5OTk0MCwiZXhwIjoxNzYwMDAzNjAwfQ.CFfGy-drxkLwDlk7mZZS29tVsmEynC7LvlklxZx28L4Vb9rAMRAHuWZnIatr2peBItTRuDy-qjs2cLPB1t12nBfFh_X-Ukw6PvXI3jQg0jVOiOfjAxQKqi7-NN81aurxoGj8HB5BJo8lJIrM6kZKKeImUWZ9WVquVem_oSHUEW-suvNcTCVwenjx_HBSLeTDn4Mj5L8gzxO3v8v2V_lvv470rUNWKJRKsz0Yi5HaPHz8NA9ZWP25y5KyLOcG-Psvck095sWxHE4lLbe4NHb2_ioc0IEmf4Q3X4ZHeaqpgEU-7jfMdotwzT2cdyxEzfjY9KpP-v-8Qi1MyBJXcXAa4g"

    /// The same claims, RS256 without `kid`.
    static let idpTokenRS256NoKid =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6ImFsaWNlIiwiYXVkIjoicG9ydGN1bGxpcyIsImlhdCI6MTc1OTk5OTk0MCwiZXhwIjoxNzYwMDAzNjAwfQ.Qw3wbwqKXclPJOtUx9XFU89VT3FJEQKYeXi-IYNgb9QAO13shciwTq69Ex6ZD8vSEx5QGPMF57D17Q6jeo6mcoqbU0AmNnpyudLwhcC55kccL1K5inYQ-awaetOhAUVSre3jlulqVSpXVBilknOjKbjdXZ1fbkf2-_UMtxG2GHYKq6dWznRgMwV7dzF_ku_COs7jxtrMXGfCeF9G3j815Yc2tikfmYKlIoMpyBhJjgMUn_L3Ouu3ckPOraEOo3dHcXedDa-SSYt0Y1HpQ060e-3iwg909DzI-6B3r1YGYynJng41tTkfH-aUXDe_4kaEqgZyuz0kG-6F-ti_m8CDlA"

    /// A 1024-bit RSA public key (too small).
    static let weakRSAJWKS = #"""
        {"keys":[{"kty":"RSA","n":"nOBuqIDps5KRZlczviv9z1_Ng7M8rbneq8EEPfkBuZ0KyLEbukM3lmT_ziRAi6j62z4DcpsmyQunO9fXY7YSuOg0fkohcTuRaWpXxFTl1g8KxjkDLVDuIe7gSAJcYqtO3OZjCjOPb7NrOi1rc9n539fOvjF6SdKGE_SM2jMq3pU","e":"AQAB","kid":"weak"}]}
        """#
}
