import Foundation

/// Pulls the values an action could be steered by out of text: identifiers (e-mail addresses, URLs and their
/// hosts, domains, IBANs, account and phone numbers, user and channel handles, file and message ids) and, for short
/// texts, the whole text.
///
/// Each value has two forms:
/// - `exact`: NFKC, lowercased, whitespace folded (and the kind's own canonical form: an IBAN without spaces, a URL
///   without fragment or trailing slash, a number's digits). The user's intent and trusted results are matched on it,
///   so that a lookalike of an intended value is never taken for it.
/// - `skeleton`: the exact form of the text as a model reads it (``TextNormalizer``: confusable letters folded to
///   Latin, entities and percent-encoding undone, invisible characters dropped). Untrusted results are matched on it,
///   so that an attacker's value written with a Cyrillic `а` still counts as the attacker's when the agent types it
///   in Latin.
///
/// Written by hand: the rules are the gateway's own and run on every result, so they are a single pass over tokens
/// without regular expressions.
public enum ValueExtractor {
    public enum Kind: String, Sendable, CaseIterable {
        case email, url, host, iban, number, handle, id, text
    }

    public struct Value: Sendable, Hashable {
        public var kind: Kind
        public var exact: String
        public var skeleton: String
    }

    /// Whole texts shorter than this are not values of their own (a "yes", a status word).
    public static let minimumTextLength = 12
    /// Whole texts longer than this are not kept whole: only the identifiers in them count.
    public static let maximumTextLength = 512
    /// At most this many values per text (a 10 KB result has far fewer).
    public static let maximumValues = 2_000

    /// The values in `text`.
    public static func values(in text: String) -> [Value] {
        var out: [Value] = []
        var seen = Set<String>()
        func add(_ kind: Kind, _ exact: String) {
            guard !exact.isEmpty, out.count < maximumValues, seen.insert(kind.rawValue + ":" + exact).inserted else { return }
            out.append(Value(kind: kind, exact: exact, skeleton: skeleton(of: exact, kind: kind)))
        }
        let lowered = fold(text.precomposedStringWithCompatibilityMapping.lowercased())
        // A model reads the skeleton: identifiers hidden by entities, percent-encoding or invisible characters are
        // found in it too.
        let normalized = TextNormalizer.mayChange(text) ? fold(TextNormalizer.normalize(text).lowercased()) : lowered
        for source in normalized == lowered ? [lowered] : [lowered, normalized] {
            for token in tokens(of: source) { classify(token, add) }
            for number in numbers(in: source) { add(.number, number) }
            for iban in ibans(in: source) { add(.iban, iban) }
        }
        let whole = lowered.trimmingCharacters(in: .whitespaces)
        if whole.count >= minimumTextLength, whole.count <= maximumTextLength { add(.text, whole) }
        return out
    }

    /// The skeleton form of an exact value.
    static func skeleton(of exact: String, kind: Kind) -> String {
        guard TextNormalizer.mayChange(exact) else { return exact }
        let s = fold(TextNormalizer.normalize(exact).lowercased())
        switch kind {
        case .iban, .number: return s.filter { !$0.isWhitespace }
        default: return s
        }
    }

    /// Whitespace runs folded to one space.
    static func fold(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var space = false
        for c in s {
            if c.isWhitespace {
                if !space && !out.isEmpty { out.append(" ") }
                space = true
            } else {
                out.append(c)
                space = false
            }
        }
        if out.last == " " { out.removeLast() }
        return out
    }

    /// Characters that end a token: whitespace, brackets, quotes, separators of lists.
    static func isDelimiter(_ c: Character) -> Bool {
        c.isWhitespace || "<>()[]{}\"'`,;|\\^".contains(c)
    }

    static func tokens(of s: String) -> [Substring] {
        s.split(whereSeparator: isDelimiter).map { token in
            // Sentence punctuation around a token is not part of it.
            var t = token
            while let last = t.last, ".:!?*".contains(last) { t = t.dropLast() }
            while let first = t.first, ".:!?*".contains(first) { t = t.dropFirst() }
            return t
        }.filter { !$0.isEmpty && $0.count <= 2048 }
    }

    static func classify(_ token: Substring, _ add: (Kind, String) -> Void) {
        let t = String(token)
        if t.hasPrefix("http://") || t.hasPrefix("https://") || t.hasPrefix("www.") {
            if let (url, host) = canonicalURL(t) {
                add(.url, url)
                add(.host, host)
            }
            return
        }
        if t.hasPrefix("mailto:") {
            classify(token.dropFirst(7), add)
            return
        }
        if let at = t.firstIndex(of: "@"), at != t.startIndex {
            let domain = t[t.index(after: at)...]
            if isDomain(domain) {
                add(.email, t)
                add(.host, String(domain))
            }
            return
        }
        if let first = t.first, first == "@" || first == "#", t.count >= 3,
           t.dropFirst().allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) {
            // The name with and without its sigil: an agent may write either.
            add(.handle, t)
            add(.handle, String(t.dropFirst()))
            return
        }
        if isDomain(Substring(t)), t.contains(where: \.isLetter) {
            add(.host, t.hasSuffix(".") ? String(t.dropLast()) : t)
            return
        }
        // An id: letters and digits mixed (msg_8f3a2c, INV-2026-0042, file-7d1e), six characters or more.
        if t.count >= 6, t.count <= 128, t.contains(where: \.isNumber), t.contains(where: \.isLetter),
           t.allSatisfy({ $0.isLetter || $0.isNumber || "_-./:".contains($0) }) {
            add(.id, t)
        }
    }

    /// `label(.label)+` whose last label is two letters or more.
    static func isDomain(_ s: Substring) -> Bool {
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let tld = labels.last, tld.count >= 2, tld.allSatisfy(\.isLetter) else { return false }
        return labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-" && l.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
        }
    }

    /// A URL's comparable form (scheme and host lowercased, default port, fragment and trailing slash dropped) and
    /// its host; nil when it has no host.
    static func canonicalURL(_ t: String) -> (String, String)? {
        let withScheme = t.hasPrefix("www.") ? "https://" + t : t
        guard var c = URLComponents(string: withScheme), let host = c.host, !host.isEmpty else {
            // Not parseable as a whole (spaces, odd characters): the host is still a value.
            let afterScheme = withScheme.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: true)
            guard afterScheme.count >= 2 else { return nil }
            let host = String(afterScheme[1]).split(separator: ":").first.map(String.init) ?? ""
            return host.isEmpty ? nil : (withScheme, host)
        }
        c.fragment = nil
        if (c.scheme == "https" && c.port == 443) || (c.scheme == "http" && c.port == 80) { c.port = nil }
        c.host = host.hasSuffix(".") ? String(host.dropLast()) : host
        if c.scheme == "http" { c.scheme = "https" }
        var s = c.string ?? withScheme
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasSuffix("?") { s.removeLast() }
        return (s, c.host ?? host)
    }

    /// Runs of 8 to 20 digits, allowing single spaces, dashes, dots and a leading `+` between them (account numbers,
    /// phone numbers, card-like numbers): their digits.
    static func numbers(in s: String) -> [String] {
        var out: [String] = []
        var digits = ""
        var gap = 0
        func flush() {
            if (8...20).contains(digits.count) { out.append(digits) }
            digits = ""
            gap = 0
        }
        for c in s {
            if let d = c.wholeNumberValue, c.isASCII {
                digits.append(Character(String(d)))
                gap = 0
            } else if !digits.isEmpty, " -./()".contains(c), gap == 0 {
                gap += 1
            } else {
                flush()
            }
        }
        flush()
        return out
    }

    /// IBANs (two letters, two check digits, 11 to 30 letters or digits, spaces or dashes allowed in groups) whose ISO 7064
    /// mod-97 check holds: uppercase, without spaces.
    static func ibans(in s: String) -> [String] {
        let chars = Array(s.uppercased())
        var out: [String] = []
        var i = 0
        while i + 15 <= chars.count {
            let atStart = i == 0 || !(chars[i - 1].isLetter || chars[i - 1].isNumber)
            guard atStart, chars[i].isASCII, chars[i].isLetter, chars[i + 1].isASCII, chars[i + 1].isLetter,
                  chars[i + 2].isNumber, chars[i + 3].isNumber else {
                i += 1
                continue
            }
            var candidate = String(chars[i...(i + 3)])
            var j = i + 4
            while j < chars.count, candidate.count < 34 {
                let c = chars[j]
                if c.isASCII, c.isLetter || c.isNumber {
                    candidate.append(c)
                } else if c == " " || c == "-", j + 1 < chars.count, chars[j + 1].isASCII, chars[j + 1].isLetter || chars[j + 1].isNumber {
                    // a space or dash inside the grouping
                } else {
                    break
                }
                j += 1
            }
            // The longest prefix that checks out (a word may follow without a space).
            var found = false
            var length = candidate.count
            while length >= 15 {
                let prefix = String(candidate.prefix(length))
                if mod97(prefix) == 1 {
                    out.append(prefix)
                    found = true
                    break
                }
                length -= 1
            }
            i = found ? j : i + 1
        }
        return out
    }

    static func mod97(_ iban: String) -> Int {
        let rearranged = Array(iban.dropFirst(4)) + Array(iban.prefix(4))
        var remainder = 0
        for c in rearranged {
            if let d = c.wholeNumberValue, c.isASCII {
                remainder = (remainder * 10 + d) % 97
            } else if let a = c.asciiValue, a >= 65, a <= 90 {
                remainder = (remainder * 100 + Int(a) - 55) % 97
            } else {
                return -1
            }
        }
        return remainder
    }
}
