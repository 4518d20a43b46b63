// libFuzzer entry point for the JOSE readers. Built by scripts/fuzz-edge.sh with
// `swiftc -sanitize=fuzzer,address` into a partial `PortcullisIdentity` module made of the JOSE files
// that need neither jwt-kit nor swift-crypto (Base64URL, ClaimReading, CompactJWS, JOSEFailure,
// StrictJSON), over `PortcullisCore` (for `JSONAny`) and `Cedar` (a second strict JSON reader to
// compare with). Signatures are not checked: that needs swift-crypto, and it comes after parsing.
//
// The first byte picks the reader; the rest is the input:
//   0  `StrictJSON.parse`
//   1  `CompactJWS.parse` of the text, then `checkHeader` and the claim readers
//   2  `Base64URL.decode` and `encode`
//   3  a header and a claim set as JSON, separated by a NUL byte: encoded into a token, then as in 1
//      (so that the fuzzer reaches the header checks without having to find base64url by mutation)
// Every refusal is a `JOSEFailure` whose reason fits an OAuth `error_description`; a trap, a hang
// or an address-sanitizer report is a bug.

import Cedar
import Foundation
import PortcullisCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJOSE(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 4 {
    case 0: JOSEProperties.strictJSON(body)
    case 1: JOSEProperties.token(String(decoding: body, as: UTF8.self))
    case 2: JOSEProperties.base64URL(body)
    default:
        let header = body.prefix { $0 != 0 }
        let claims = body.dropFirst(header.count + 1)
        JOSEProperties.token("\(Base64URL.encode(header)).\(Base64URL.encode(claims)).c2ln")
    }
    return 0
}

enum JOSEProperties {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)
    static let allowed: Set<String> = ["ES256", "EdDSA"]

    /// StrictJSON accepts a document only when Cedar's strict reader reads the same value from it
    /// (StrictJSON is the stricter of the two: canonical duplicate keys, depth 32, finite numbers),
    /// and what it accepts reads back unchanged after serialising.
    static func strictJSON(_ bytes: [UInt8]) {
        let value: JSONAny
        do {
            value = try StrictJSON.parse(bytes)
        } catch {
            checkReason(error)
            return
        }
        guard let cedar = try? JSONValue.parse(bytes: bytes) else {
            fuzzFail("StrictJSON accepts a document that Cedar's JSON reader refuses")
        }
        fuzzAssert(anyValue(cedar) == value, "StrictJSON and Cedar's JSON reader read different values")
        let text = jsonValue(value).serialized
        guard let again = try? StrictJSON.parse(Array(text.utf8)) else { fuzzFail("serialised JSON is refused: \(text)") }
        fuzzAssert(again == value, "a JSON round trip changed the value: \(text)")
    }

    /// A token parses into parts that re-encode to exactly the text (one encoding per token), and
    /// an accepted header has none of the refused members.
    static func token(_ text: String) {
        let jws: CompactJWS
        do {
            jws = try CompactJWS.parse(text)
        } catch {
            checkReason(error)
            return
        }
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map { String(Substring($0)) }
        fuzzAssert(parts.count == 3, "a token with \(parts.count) parts was accepted")
        fuzzAssert(Base64URL.encode(jws.signature).utf8.elementsEqual(parts[2].utf8), "the signature has a second encoding")
        fuzzAssert(jws.signingInput == Data("\(parts[0]).\(parts[1])".utf8), "the signing input is not the first two parts")
        for part in parts.prefix(2) {
            guard let decoded = Base64URL.decode(part) else { fuzzFail("an accepted part is not base64url") }
            fuzzAssert(Base64URL.encode(decoded).utf8.elementsEqual(part.utf8), "a part has a second encoding")
        }
        for embedded in [false, true] {
            do {
                let alg = try jws.checkHeader(allowed: allowed, allowEmbeddedJWK: embedded)
                fuzzAssert(allowed.contains { $0.utf8.elementsEqual(alg.utf8) }, "alg \(alg) is not one of the allowed")
                var refused = ["crit", "b64", "enc", "zip", "jku", "x5u", "x5c"]
                if !embedded { refused.append("jwk") }
                for name in refused {
                    fuzzAssert(jws.header[name] == nil, "a header with \(name) passed the checks")
                }
                if let kid = jws.header["kid"] { fuzzAssert(kid.stringValue != nil, "a kid that is not a string passed") }
                fuzzAssert(jws.kid == jws.header["kid"]?.stringValue, "kid does not read the header's kid")
            } catch {
                checkReason(error)
            }
        }
        _ = jws.hasType("dpop+jwt")
        claims(jws.claims)
    }

    /// The claim readers return a typed value or refuse; they never read a wrongly typed claim as absent.
    static func claims(_ claims: [String: JSONAny]) {
        for name in ["iss", "sub", "jti", "client_id"] {
            do {
                let value = try claims.string(name)
                fuzzAssert((value == nil) == (claims[name] == nil), "\(name) present but read as absent")
            } catch {
                checkReason(error)
            }
            do {
                let value = try claims.requiredString(name)
                fuzzAssert(!value.isEmpty, "a required \(name) read as empty")
            } catch {
                checkReason(error)
            }
        }
        for name in ["exp", "nbf", "iat"] {
            do {
                let date = try claims.numericDate(name)
                fuzzAssert((date == nil) == (claims[name] == nil), "\(name) present but read as absent")
            } catch {
                checkReason(error)
            }
        }
        do {
            let audiences = try claims.audiences()
            fuzzAssert((audiences == nil) == (claims["aud"] == nil), "aud present but read as absent")
        } catch {
            checkReason(error)
        }
        do { _ = try TimeChecks.requireUnexpired(claims, now: now, leeway: 60) } catch { checkReason(error) }
        do { try TimeChecks.requireNotBefore(claims, now: now, leeway: 60) } catch { checkReason(error) }
        do { _ = try TimeChecks.issuedAt(claims, now: now, leeway: 60) } catch { checkReason(error) }
    }

    /// Decoding is exact: a text decodes only when it is the one encoding of its bytes.
    static func base64URL(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let decoded = Base64URL.decode(text) {
            fuzzAssert(Base64URL.encode(decoded).utf8.elementsEqual(text.utf8), "\(text) is a second encoding")
        }
        let encoded = Base64URL.encode(bytes)
        fuzzAssert(Base64URL.decode(encoded) == Data(bytes), "encode then decode changed the bytes")
        fuzzAssert(Base64URL.isAlphabetOnly(encoded) == !bytes.isEmpty, "an encoding left the alphabet")
    }

    /// A reason is non-empty and fits RFC 6749 §5.2 `error_description` (%x20-21 / %x23-5B / %x5D-7E).
    static func checkReason(_ failure: JOSEFailure) {
        fuzzAssert(!failure.reason.isEmpty, "a JOSEFailure without a reason")
        fuzzAssert(failure.reason.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C },
                   "a reason that cannot travel in error_description: \(failure.reason)")
    }

    /// Cedar's value with StrictJSON's number rule: integer syntax within Int64 is `.int`, else `.double`.
    static func anyValue(_ value: JSONValue) -> JSONAny {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .number(let text):
            if !text.contains(where: { ".eE".contains($0) }), let integer = Int64(text) {
                .int(integer)
            } else {
                .double(Double(text) ?? .nan)
            }
        case .string(let s): .string(s)
        case .array(let items): .array(items.map(anyValue))
        case .object(let members): .object(Dictionary(members.map { ($0.0, anyValue($0.1)) }) { first, _ in first })
        }
    }

    static func jsonValue(_ value: JSONAny) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let b): .bool(b)
        case .int(let i): .number(String(i))
        case .double(let d): .number("\(d)")
        case .string(let s): .string(s)
        case .array(let items): .array(items.map(jsonValue))
        case .object(let members): .object(members.map { ($0.key, jsonValue($0.value)) })
        }
    }
}

/// Stops the fuzzer when a property fails; libFuzzer keeps the input as a crash.
func fuzzAssert(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fuzzFail(message()) }
}

func fuzzFail(_ message: String) -> Never {
    fatalError("property violated: \(message)")
}
