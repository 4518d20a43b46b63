/// Finds secrets and personal data in text: private keys, cloud access keys, API tokens, JWTs,
/// payment card numbers (Luhn-checked), US social security numbers and long base64 blobs.
///
/// Works on UTF-8 bytes without regular expressions (every tool call passes through it).
/// Each finding has a kind and a byte range, so text can be redacted in place.
public enum DLPScanner {
    /// What was found.
    public enum Kind: String, Sendable, CaseIterable {
        case privateKey = "private_key"
        case awsAccessKey = "aws_access_key"
        case gcpAPIKey = "gcp_api_key"
        case githubToken = "github_token"
        case slackToken = "slack_token"
        case jwt
        case cardNumber = "card_number"
        case nationalID = "national_id"
        case base64Blob = "base64_blob"

        /// Credentials, as opposed to personal data or bulk data.
        public var isSecret: Bool {
            switch self {
            case .privateKey, .awsAccessKey, .gcpAPIKey, .githubToken, .slackToken, .jwt: true
            case .cardNumber, .nationalID, .base64Blob: false
            }
        }
    }

    public struct Finding: Sendable, Equatable {
        public var kind: Kind
        /// Byte offsets in the UTF-8 text.
        public var range: Range<Int>
    }

    /// Shortest run treated as a base64 blob.
    static let blobLength = 256

    public static func findings(in text: String) -> [Finding] {
        let bytes = Array(text.utf8)
        var out: [Finding] = []
        privateKeys(bytes, into: &out)
        tokens(bytes, into: &out)
        digits(bytes, into: &out)
        out.sort { $0.range.lowerBound < $1.range.lowerBound }
        // Keep the first of overlapping findings.
        var kept: [Finding] = []
        for f in out where kept.last.map({ $0.range.upperBound <= f.range.lowerBound }) ?? true { kept.append(f) }
        return kept
    }

    /// `text` with every finding replaced by `[REDACTED:<kind>]`.
    public static func redact(_ text: String, findings: [Finding]) -> String {
        guard !findings.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var cursor = 0
        for f in findings {
            out.append(contentsOf: bytes[cursor..<f.range.lowerBound])
            out.append(contentsOf: "[REDACTED:\(f.kind.rawValue)]".utf8)
            cursor = f.range.upperBound
        }
        out.append(contentsOf: bytes[cursor...])
        return String(decoding: out, as: UTF8.self)
    }

    private static func privateKeys(_ b: [UInt8], into out: inout [Finding]) {
        let begin = Array("-----BEGIN ".utf8), marker = Array("PRIVATE KEY-----".utf8), end = Array("-----END ".utf8)
        var i = 0
        while let start = find(begin, in: b, from: i) {
            guard let m = find(marker, in: b, from: start), m - start < 40 else { i = start + 1; continue }
            var stop = b.count
            if let e = find(end, in: b, from: m + marker.count), let close = find(marker, in: b, from: e) {
                stop = close + marker.count
            }
            out.append(Finding(kind: .privateKey, range: start..<stop))
            i = stop
        }
    }

    /// The first position of `needle` in `hay` at or after `from`.
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count, from <= hay.count - needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    @inline(__always) public static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    @inline(__always) static func isTokenByte(_ c: UInt8) -> Bool {
        isAlnum(c) || c == 0x5F || c == 0x2D || c == 0x2B || c == 0x2F || c == 0x3D || c == 0x2E
    }

    /// Maximal runs of token characters, each checked against the token formats.
    private static func tokens(_ b: [UInt8], into out: inout [Finding]) {
        var i = 0
        while i < b.count {
            guard isTokenByte(b[i]) else { i += 1; continue }
            var j = i
            while j < b.count && isTokenByte(b[j]) { j += 1 }
            classify(b, i, j, into: &out)
            i = j
        }
    }

    private static func classify(_ b: [UInt8], _ start: Int, _ end: Int, into out: inout [Finding]) {
        let run = b[start..<end]
        // Compares in place: building an array of the prefix for each position was most of the scanner's cost.
        func has(_ prefix: StaticString, at offset: Int) -> Bool {
            let count = prefix.utf8CodeUnitCount
            guard offset + count <= end else { return false }
            let p = prefix.utf8Start
            for n in 0..<count where b[offset + n] != p[n] { return false }
            return true
        }
        // Prefixed formats may sit inside a longer run (e.g. `key=AKIA…`): look at each start.
        var k = start
        while k < end {
            // Every prefix below starts with A, g, x or e: skip the other bytes at once.
            let first = b[k]
            guard first == 0x41 || first == 0x67 || first == 0x78 || first == 0x65 else { k += 1; continue }
            if (has("AKIA", at: k) || has("ASIA", at: k)) && k + 20 <= end
                && b[k..<(k + 20)].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) })
                && (k + 20 == end || !isAlnum(b[k + 20])) && (k == start || !isAlnum(b[k - 1])) {
                out.append(Finding(kind: .awsAccessKey, range: k..<(k + 20)))
                k += 20
                continue
            }
            if has("AIza", at: k) && k + 39 <= end
                && b[k..<(k + 39)].allSatisfy({ isAlnum($0) || $0 == 0x5F || $0 == 0x2D }) {
                out.append(Finding(kind: .gcpAPIKey, range: k..<(k + 39)))
                k += 39
                continue
            }
            if (has("ghp_", at: k) || has("gho_", at: k) || has("ghu_", at: k) || has("ghs_", at: k) || has("ghr_", at: k)
                || has("github_pat_", at: k)) && (k == start || !isAlnum(b[k - 1])) {
                var e = k + 4
                while e < end && (isAlnum(b[e]) || b[e] == 0x5F) { e += 1 }
                if e - k >= 40 {
                    out.append(Finding(kind: .githubToken, range: k..<e))
                    k = e
                    continue
                }
            }
            if (has("xoxb-", at: k) || has("xoxp-", at: k) || has("xoxa-", at: k) || has("xoxr-", at: k) || has("xoxs-", at: k))
                && (k == start || !isAlnum(b[k - 1])) {
                var e = k + 5
                while e < end && (isAlnum(b[e]) || b[e] == 0x2D) { e += 1 }
                if e - k >= 15 {
                    out.append(Finding(kind: .slackToken, range: k..<e))
                    k = e
                    continue
                }
            }
            if has("eyJ", at: k) && (k == start || !isAlnum(b[k - 1])) {
                // header.payload.signature, each base64url, payload also starting with eyJ.
                var parts: [Range<Int>] = []
                var s = k, e = k
                while e <= end && parts.count < 3 {
                    if e == end || b[e] == 0x2E || !(isAlnum(b[e]) || b[e] == 0x5F || b[e] == 0x2D) {
                        parts.append(s..<e)
                        if e == end || b[e] != 0x2E { break }
                        s = e + 1
                    }
                    e += 1
                }
                if parts.count == 3, parts[0].count >= 10, parts[1].count >= 10, parts[2].count >= 16,
                   b[parts[1]].starts(with: "eyJ".utf8) {
                    out.append(Finding(kind: .jwt, range: k..<parts[2].upperBound))
                    k = parts[2].upperBound
                    continue
                }
            }
            k += 1
        }
        if run.count >= blobLength, !out.contains(where: { $0.range.overlaps(start..<end) }),
           run.allSatisfy({ isAlnum($0) || $0 == 0x2B || $0 == 0x2F || $0 == 0x3D || $0 == 0x5F || $0 == 0x2D }) {
            out.append(Finding(kind: .base64Blob, range: start..<end))
        }
    }

    /// Digit groups: card numbers (13–19 digits, single spaces or dashes between groups, Luhn-valid)
    /// and US social security numbers (`AAA-GG-SSSS`, valid area and group).
    private static func digits(_ b: [UInt8], into out: inout [Finding]) {
        @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        var i = 0
        while i < b.count {
            guard isDigit(b[i]), i == 0 || !(isDigit(b[i - 1]) || isAlnum(b[i - 1])) else { i += 1; continue }
            // SSN
            if i + 11 <= b.count, b[i + 3] == 0x2D, b[i + 6] == 0x2D,
               b[i..<(i + 3)].allSatisfy(isDigit), b[(i + 4)..<(i + 6)].allSatisfy(isDigit),
               b[(i + 7)..<(i + 11)].allSatisfy(isDigit), i + 11 == b.count || !isAlnum(b[i + 11]) {
                let area = Int(String(decoding: b[i..<(i + 3)], as: UTF8.self)) ?? 0
                let group = Int(String(decoding: b[(i + 4)..<(i + 6)], as: UTF8.self)) ?? 0
                let serial = Int(String(decoding: b[(i + 7)..<(i + 11)], as: UTF8.self)) ?? 0
                if area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 {
                    out.append(Finding(kind: .nationalID, range: i..<(i + 11)))
                    i += 11
                    continue
                }
            }
            // Card number
            var digits: [Int] = []
            var j = i
            var lastDigitEnd = i
            while j < b.count {
                if isDigit(b[j]) {
                    digits.append(Int(b[j] - 0x30))
                    j += 1
                    lastDigitEnd = j
                } else if (b[j] == 0x20 || b[j] == 0x2D) && j + 1 < b.count && isDigit(b[j + 1]) && isDigit(b[j - 1]) {
                    j += 1
                } else {
                    break
                }
                if digits.count > 19 { break }
            }
            if (13...19).contains(digits.count), lastDigitEnd == b.count || !isAlnum(b[lastDigitEnd]), luhn(digits) {
                out.append(Finding(kind: .cardNumber, range: i..<lastDigitEnd))
                i = lastDigitEnd
                continue
            }
            while i < b.count && isDigit(b[i]) { i += 1 }
        }
    }

    static func luhn(_ digits: [Int]) -> Bool {
        var sum = 0
        for (n, d) in digits.reversed().enumerated() {
            if n % 2 == 1 {
                let x = d * 2
                sum += x > 9 ? x - 9 : x
            } else {
                sum += d
            }
        }
        return sum % 10 == 0 && !digits.allSatisfy { $0 == digits.first }
    }
}
