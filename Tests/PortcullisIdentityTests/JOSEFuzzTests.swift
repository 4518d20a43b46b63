import Foundation
import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// A fixed-seed run of the properties scripts/fuzz-edge.sh fuzzes (Fuzz/EdgeFuzzers/JOSEFuzzer.swift),
/// so that CI checks them on every build: a mutated token, header or claim set gives a value or a
/// `JOSEFailure` whose reason can travel in an OAuth `error_description`, never a trap.
@Suite("JOSE readers on mutated input")
struct JOSEFuzzTests {
    /// SplitMix64: a fixed-seed generator, so a failure reproduces.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let iterations = 5_000
    static let now = Date(timeIntervalSince1970: 1_750_000_000)
    static let allowed: Set<String> = ["ES256", "EdDSA"]

    static let headers = [
        #"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#,
        #"{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}"#,
        #"{"alg":"none"}"#,
        #"{"alg":"ES256","crit":["b64"],"b64":false}"#,
    ]

    static let claimSets = [
        #"{"iss":"https://as.example","sub":"agent-1","aud":["https://gw.example/mcp"],"exp":1893456000,"iat":1700000000,"nbf":1700000000,"scope":"mcp","act":{"sub":"user"}}"#,
        #"{"htm":"POST","htu":"https://gw.example/mcp","iat":1.7e9,"jti":"x\u00e9\ud83d\ude00"}"#,
        #"{"iss":"","aud":[1],"exp":"soon","nbf":-0}"#,
    ]

    /// Bytes and fragments that JSON and compact tokens are made of.
    static let fragments = [
        "{", "}", "[", "]", ":", ",", "\"", "\\", ".", "=", "-", "_", "+", "/", "A", "Q", "eyJ", "\\u0000", "\\ud800",
        "\\udc00", "null", "true", "1e999", "-0", "0.5", "9223372036854775808", "\"alg\":", "\"crit\":[]", "\"jku\":\"x\"",
        "\"none\"", "\"NoNe\"", "\"kid\":1", "\"exp\":", "\"aud\":", "\u{0}", "\u{1F600}", "\u{212A}",
    ].map { Array($0.utf8) }

    /// One to four byte-level edits: delete, insert a fragment, overwrite, or cut a run.
    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes.remove(at: i)
            case 1: bytes.insert(contentsOf: fragments.randomElement(using: &rng)!, at: i)
            case 2: bytes[i] = fragments.randomElement(using: &rng)!.first ?? 0
            default: bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...12, using: &rng)))
            }
        }
        return bytes
    }

    static func token(header: some Sequence<UInt8>, claims: some Sequence<UInt8>) -> String {
        "\(Base64URL.encode(header)).\(Base64URL.encode(claims)).c2lnbmF0dXJl"
    }

    @Test("5,000 mutated compact tokens parse into their one encoding, or are refused with a printable reason")
    func mutatedTokens() {
        var rng = SplitMix64(state: 0x5EED_1001)
        var parsed = 0
        var refused = 0
        for i in 0..<Self.iterations {
            let seed = Self.token(header: Array(Self.headers[i % Self.headers.count].utf8),
                                  claims: Array(Self.claimSets[i % Self.claimSets.count].utf8))
            let text = String(decoding: Self.mutate(Array(seed.utf8), &rng), as: UTF8.self)
            if Self.expectToken(text) { parsed += 1 } else { refused += 1 }
        }
        // Most edits break the base64url; the next test reaches the header and claim checks.
        #expect(parsed > 20)
        #expect(refused > 1_000)
    }

    @Test("5,000 tokens with mutated headers and claims pass the header checks only when they should")
    func mutatedHeadersAndClaims() {
        var rng = SplitMix64(state: 0x5EED_1002)
        var parsed = 0
        var refused = 0
        for i in 0..<Self.iterations {
            var header = Array(Self.headers[i % Self.headers.count].utf8)
            var claims = Array(Self.claimSets[i / Self.headers.count % Self.claimSets.count].utf8)
            if i.isMultiple(of: 2) { header = Self.mutate(header, &rng) } else { claims = Self.mutate(claims, &rng) }
            if Self.expectToken(Self.token(header: header, claims: claims)) { parsed += 1 } else { refused += 1 }
        }
        #expect(parsed > 500)
        #expect(refused > 1_000)
    }

    @Test("5,000 mutated JSON documents: StrictJSON accepts only what Foundation accepts, and reads back its output")
    func mutatedJSON() {
        var rng = SplitMix64(state: 0x5EED_1003)
        var accepted = 0
        var refused = 0
        let seeds = Self.headers + Self.claimSets
        for i in 0..<Self.iterations {
            let bytes = Self.mutate(Array(seeds[i % seeds.count].utf8), &rng)
            let value: JSONAny
            do {
                value = try StrictJSON.parse(bytes)
            } catch {
                refused += 1
                Self.expectReason(error)
                continue
            }
            accepted += 1
            #expect((try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil,
                    "StrictJSON accepts what Foundation refuses: \(String(decoding: bytes, as: UTF8.self))")
            do {
                let again = try StrictJSON.parse(JSONEncoder().encode(value))
                #expect(Self.sameJSON(again, value))
            } catch {
                Issue.record("StrictJSON refuses JSONEncoder's output for \(String(decoding: bytes, as: UTF8.self)): \(error)")
            }
        }
        #expect(accepted > 500)
        #expect(refused > 1_000)
    }

    @Test("base64url decodes only the one encoding of some bytes")
    func base64URLIsCanonical() {
        var rng = SplitMix64(state: 0x5EED_1004)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. ".utf8)
        for _ in 0..<Self.iterations {
            let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let encoded = Base64URL.encode(bytes)
            #expect(Base64URL.decode(encoded) == Data(bytes))
            let text = String(decoding: (0..<Int.random(in: 0...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! },
                              as: UTF8.self)
            if let decoded = Base64URL.decode(text) {
                #expect(Base64URL.encode(decoded) == text, "\(text) is a second encoding of its bytes")
            }
        }
    }

    // MARK: - Properties

    /// Checks a token the way the fuzzer does; true when it parses.
    static func expectToken(_ text: String) -> Bool {
        let jws: CompactJWS
        do {
            jws = try CompactJWS.parse(text)
        } catch {
            expectReason(error)
            return false
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.count == 3)
        guard parts.count == 3 else { return true }
        #expect(Base64URL.encode(jws.signature) == parts[2])
        #expect(jws.signingInput == Data("\(parts[0]).\(parts[1])".utf8))
        for part in parts.prefix(2) {
            #expect(Base64URL.decode(part).map(Base64URL.encode) == part, "\(part) is a second encoding")
        }
        for embedded in [false, true] {
            do {
                let alg = try jws.checkHeader(allowed: allowed, allowEmbeddedJWK: embedded)
                #expect(allowed.contains { $0.utf8.elementsEqual(alg.utf8) })
                var refused = ["crit", "b64", "enc", "zip", "jku", "x5u", "x5c"]
                if !embedded { refused.append("jwk") }
                for name in refused { #expect(jws.header[name] == nil, "a header with \(name) passed") }
                #expect(jws.kid == jws.header["kid"]?.stringValue)
            } catch {
                expectReason(error)
            }
        }
        expectClaims(jws.claims)
        return true
    }

    /// A present claim of the wrong type is an error, never read as absent.
    static func expectClaims(_ claims: [String: JSONAny]) {
        for name in ["iss", "sub", "jti"] {
            do {
                let value = try claims.string(name)
                #expect((value == nil) == (claims[name] == nil), "\(name) present but read as absent")
                let required = try claims.requiredString(name)
                #expect(!required.isEmpty)
            } catch {
                expectReason(error)
            }
        }
        for name in ["exp", "nbf", "iat"] {
            do {
                let date = try claims.numericDate(name)
                #expect((date == nil) == (claims[name] == nil), "\(name) present but read as absent")
            } catch {
                expectReason(error)
            }
        }
        do {
            let audiences = try claims.audiences()
            #expect((audiences == nil) == (claims["aud"] == nil), "aud present but read as absent")
        } catch {
            expectReason(error)
        }
        do { _ = try TimeChecks.requireUnexpired(claims, now: now, leeway: 60) } catch { expectReason(error) }
        do { try TimeChecks.requireNotBefore(claims, now: now, leeway: 60) } catch { expectReason(error) }
        do { _ = try TimeChecks.issuedAt(claims, now: now, leeway: 60) } catch { expectReason(error) }
    }

    /// A reason is non-empty and fits RFC 6749 §5.2 `error_description` (%x20-21 / %x23-5B / %x5D-7E).
    static func expectReason(_ failure: JOSEFailure) {
        #expect(!failure.reason.isEmpty)
        #expect(failure.reason.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C }, "\(failure.reason)")
    }

    /// Equal values, where JSONEncoder may write an integral double as an integer (`1.0` as `1`).
    static func sameJSON(_ a: JSONAny, _ b: JSONAny) -> Bool {
        switch (a, b) {
        case (.int(let i), .double(let d)), (.double(let d), .int(let i)): Double(i) == d
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy(sameJSON)
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { key, value in y[key].map { sameJSON(value, $0) } ?? false }
        default: a == b
        }
    }
}
