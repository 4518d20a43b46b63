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
/// Written by hand, on UTF-8 bytes: it runs on every result before the agent sees it (a 10 KB answer in tens of
/// microseconds), and the rules are the gateway's own. Bytes of non-ASCII characters count as letters; text that
/// is not plain ASCII is NFKC-normalized and lowercased first.
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
        var collector = Collector()
        run(&collector, text)
        return collector.out
    }

    /// Calls `body` with the exact and skeleton forms (UTF-8) of every value in `text`, without building a `Value`
    /// for plain ASCII text (the gateway hashes what it reads straight from the bytes). A value may be reported more
    /// than once.
    public static func forEachValue(in text: String,
                                    _ body: (_ exact: UnsafeBufferPointer<UInt8>, _ skeleton: UnsafeBufferPointer<UInt8>) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            var collector = Collector()
            collector.sink = escapable
            run(&collector, text)
        }
    }

    static func run(_ collector: inout Collector, _ text: String) {
        // One pass: the bytes lowercased (ASCII), and whether the text is plain (ASCII without `%` or `&`).
        var ascii = true
        var escapes = false
        var copy = text
        let lowered: [UInt8] = copy.withUTF8 { source in
            [UInt8](unsafeUninitializedCapacity: source.count) { out, initialized in
                var high: UInt8 = 0
                for i in 0..<source.count {
                    let c = source[i]
                    high |= c
                    if c == 0x25 || c == 0x26 { escapes = true }
                    out[i] = c &- 0x41 < 26 ? c | 0x20 : c
                }
                ascii = high < 0x80
                initialized = source.count
            }
        }
        collector.plain = ascii && !escapes
        if ascii {
            collector.scan(lowered)
        } else {
            let exactText = text.precomposedStringWithCompatibilityMapping.lowercased()
            collector.scan(Array(exactText.utf8))
        }
        // A model reads the skeleton: identifiers hidden by entities, percent-encoding or invisible characters are
        // found in it too.
        if !collector.plain {
            let normalized = TextNormalizer.normalize(text).lowercased()
            if normalized != text.lowercased() { collector.scan(Array(normalized.utf8), wholeText: false) }
        }
    }

    struct Collector {
        struct Seen: Hashable {
            var kind: Kind
            var exact: String
        }

        var out: [Value] = []
        var seen = Set<Seen>(minimumCapacity: 256)
        /// The text is plain ASCII without `%` or `&`: every value's skeleton is its exact form.
        var plain = false
        /// Set: values go here as bytes instead of into ``out``.
        var sink: ((UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void)?
        var reported = 0

        mutating func add(_ kind: Kind, _ exact: String) {
            let copy = exact
            var utf8 = exact
            utf8.withUTF8 { add(kind, bytes: $0, string: copy) }
        }

        mutating func add(_ kind: Kind, bytes: UnsafeBufferPointer<UInt8>, string: String? = nil) {
            guard !bytes.isEmpty else { return }
            if let sink {
                guard reported < maximumValues else { return }
                reported += 1
                if plain {
                    sink(bytes, bytes)
                } else {
                    var skeleton = ValueExtractor.skeleton(of: string ?? String(decoding: bytes, as: UTF8.self), kind: kind)
                    skeleton.withUTF8 { sink(bytes, $0) }
                }
                return
            }
            let exact = string ?? String(decoding: bytes, as: UTF8.self)
            guard out.count < maximumValues, seen.insert(Seen(kind: kind, exact: exact)).inserted else { return }
            out.append(Value(kind: kind, exact: exact, skeleton: plain ? exact : ValueExtractor.skeleton(of: exact, kind: kind)))
        }

        /// One pass: tokens (split at delimiters), runs of digits (account and phone numbers), and IBAN candidates
        /// (looked at only where a word starts with two letters and two digits).
        /// Reads lowercased bytes.
        mutating func scan(_ bytes: [UInt8], wholeText: Bool = true) {
            var numbers: [Range<Int>] = []
            var ibanStarts: [Int] = []
            bytes.withUnsafeBufferPointer { buffer in
                var start = 0
                var digitsFrom = -1
                var digitCount = 0
                var gap = false
                // Most tokens are words: no digit, no `@`, `#`, `.`, `:` or `/`, nothing to extract.
                var interesting = false
                for i in 0..<buffer.count {
                    let c = buffer[i]
                    if ValueExtractor.isDigit(c) {
                        if digitsFrom < 0 { digitsFrom = i }
                        digitCount += 1
                        gap = false
                        interesting = true
                    } else if digitsFrom >= 0, !gap, c == 0x20 || c == 0x2D || c == 0x2E || c == 0x2F || c == 0x28 || c == 0x29 {
                        gap = true
                    } else if digitsFrom >= 0 {
                        if (8...20).contains(digitCount) { numbers.append(digitsFrom..<i) }
                        digitsFrom = -1
                        digitCount = 0
                        gap = false
                    }
                    if ValueExtractor.isDelimiter(c) {
                        if i > start, interesting { token(buffer, start, i) }
                        start = i + 1
                        interesting = false
                        continue
                    }
                    if c == 0x40 || c == 0x23 || c == 0x2E || c == 0x3A || c == 0x2F { interesting = true }
                    if i == start, i + 3 < buffer.count, c >= 0x61, c <= 0x7A, buffer[i + 1] >= 0x61, buffer[i + 1] <= 0x7A,
                              ValueExtractor.isDigit(buffer[i + 2]), ValueExtractor.isDigit(buffer[i + 3]) {
                        ibanStarts.append(i)
                    }
                }
                if buffer.count > start, interesting { token(buffer, start, buffer.count) }
                if digitsFrom >= 0, (8...20).contains(digitCount) { numbers.append(digitsFrom..<buffer.count) }
            }
            for r in numbers { add(.number, String(decoding: bytes[r].filter(ValueExtractor.isDigit), as: UTF8.self)) }
            for i in ibanStarts { if let iban = ValueExtractor.iban(in: bytes, at: i) { add(.iban, iban) } }
            if wholeText, bytes.count >= minimumTextLength, bytes.count <= maximumTextLength * 4 {
                let whole = ValueExtractor.fold(bytes)
                if whole.utf8.count >= minimumTextLength, whole.count <= maximumTextLength { add(.text, whole) }
            }
        }

        mutating func token(_ buffer: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
            var a = from, b = to
            // Sentence punctuation around a token is not part of it.
            while a < b, isTrim(buffer[a]) { a += 1 }
            while b > a, isTrim(buffer[b - 1]) { b -= 1 }
            guard b > a, b - a <= 2048 else { return }
            classify(UnsafeBufferPointer(rebasing: buffer[a..<b]))
        }

        mutating func classify(_ t: UnsafeBufferPointer<UInt8>) {
            if starts(t, "http://") || starts(t, "https://") || starts(t, "www.") {
                if let (url, host) = ValueExtractor.canonicalURL(Array(t)) {
                    add(.url, url)
                    add(.host, host)
                }
                return
            }
            if starts(t, "mailto:") {
                classify(UnsafeBufferPointer(rebasing: t[7...]))
                return
            }
            if let at = t.firstIndex(of: UInt8(ascii: "@")), at > 0 {
                let domain = UnsafeBufferPointer(rebasing: t[(at + 1)...])
                if ValueExtractor.isDomain(domain) {
                    add(.email, bytes: t)
                    add(.host, bytes: domain)
                }
                return
            }
            if let first = t.first, first == UInt8(ascii: "@") || first == UInt8(ascii: "#"), t.count >= 3,
               t.dropFirst().allSatisfy({ isWord($0) || $0 == UInt8(ascii: ".") }) {
                // The name with and without its sigil: an agent may write either.
                add(.handle, bytes: t)
                add(.handle, bytes: UnsafeBufferPointer(rebasing: t[1...]))
                return
            }
            if ValueExtractor.isDomain(t), t.contains(where: isLetter) {
                add(.host, bytes: t)
                return
            }
            // An id: letters and digits mixed (msg_8f3a2c, INV-2026-0042, file-7d1e), six characters or more.
            if t.count >= 6, t.count <= 128, t.contains(where: isDigit), t.contains(where: isLetter),
               t.allSatisfy({ isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") }) {
                add(.id, bytes: t)
            }
        }

        func starts(_ t: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
            let p = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
            return t.count >= p.count && zip(t, p).allSatisfy { $0 == $1 }
        }
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    /// ASCII letters and every byte of a non-ASCII character.
    static func isLetter(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b >= 0x80 }
    static func isWord(_ b: UInt8) -> Bool { isLetter(b) || isDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") }
    static func isTrim(_ b: UInt8) -> Bool { b == 0x2E || b == 0x3A || b == 0x21 || b == 0x3F || b == 0x2A }

    /// Whitespace, brackets, quotes, separators of lists.
    @inline(__always)
    static func isDelimiter(_ b: UInt8) -> Bool {
        switch b {
        case 0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C, 0x3C, 0x3E, 0x28, 0x29, 0x5B, 0x5D, 0x7B, 0x7D, 0x22, 0x27, 0x60, 0x2C, 0x3B,
             0x7C, 0x5C, 0x5E:
            true
        default:
            false
        }
    }

    /// The skeleton form of an exact value.
    static func skeleton(of exact: String, kind: Kind) -> String {
        guard TextNormalizer.mayChange(exact) else { return exact }
        var s = fold(Array(TextNormalizer.normalize(exact).lowercased().utf8))
        if kind == .iban || kind == .number { s = s.filter { !$0.isWhitespace } }
        // Nothing visible is left (the value was invisible characters): it stands for itself.
        return s.isEmpty ? exact : s
    }

    /// Whitespace runs folded to one space, trimmed.
    static func fold(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var space = false
        for b in bytes {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C {
                if !space && !out.isEmpty { out.append(0x20) }
                space = true
            } else {
                out.append(b)
                space = false
            }
        }
        if out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    /// `label(.label)+` whose last label is two letters or more.
    static func isDomain(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = s.endIndex
        if end > s.startIndex, s[end - 1] == 0x2E { end -= 1 }
        var labels = 0
        var labelStart = s.startIndex
        var tldLetters = true
        var i = s.startIndex
        while i <= end {
            if i == end || s[i] == 0x2E {
                let length = i - labelStart
                guard length > 0, length <= 63, s[labelStart] != 0x2D, s[i - 1] != 0x2D else { return false }
                labels += 1
                if i == end { return labels >= 2 && length >= 2 && tldLetters }
                labelStart = i + 1
                tldLetters = true
            } else {
                let c = s[i]
                guard isLetter(c) || isDigit(c) || c == 0x2D else { return false }
                if !isLetter(c) { tldLetters = false }
            }
            i += 1
        }
        return false
    }

    /// A URL's comparable form (http as https, user information and default ports dropped, fragment and trailing
    /// slash dropped; the whole URL is lowercased like every value) and its host; nil when it has no host. By hand,
    /// on bytes: Foundation's `URLComponents` costs more than all the rest of a result's extraction.
    static func canonicalURL(_ t: [UInt8]) -> (String, String)? {
        var a = 0
        if t.starts(with: Array("https://".utf8)) {
            a = 8
        } else if t.starts(with: Array("http://".utf8)) {
            a = 7
        } else if !t.starts(with: Array("www.".utf8)) {
            return nil
        }
        var end = t.count
        if let hash = t[a...].firstIndex(of: 0x23) { end = hash }
        var authorityEnd = a
        while authorityEnd < end, t[authorityEnd] != 0x2F, t[authorityEnd] != 0x3F { authorityEnd += 1 }
        var hostStart = a
        // `https://trusted.example@evil.example/` goes to evil.example.
        if let at = t[a..<authorityEnd].lastIndex(of: 0x40) { hostStart = at + 1 }
        var hostEnd = authorityEnd
        var port: ArraySlice<UInt8> = []
        if let colon = t[hostStart..<authorityEnd].lastIndex(of: 0x3A), t[hostStart] != 0x5B {
            hostEnd = colon
            port = t[(colon + 1)..<authorityEnd]
        }
        while hostEnd > hostStart, t[hostEnd - 1] == 0x2E { hostEnd -= 1 }
        guard hostEnd > hostStart else { return nil }
        while end > authorityEnd, t[end - 1] == 0x2F || t[end - 1] == 0x3F { end -= 1 }
        var out = Array("https://".utf8)
        out += t[hostStart..<hostEnd]
        if !port.isEmpty, !port.elementsEqual("443".utf8), !port.elementsEqual("80".utf8) {
            out.append(0x3A)
            out += port
        }
        out += t[authorityEnd..<end]
        return (String(decoding: out, as: UTF8.self), String(decoding: t[hostStart..<hostEnd], as: UTF8.self))
    }

    /// The IBAN starting at `i` (two letters, two check digits, 11 to 30 letters or digits, spaces or dashes
    /// allowed in groups) whose ISO 7064 mod-97 check holds, uppercase without separators; the longest that checks
    /// out (a word may follow). Reads lowercased bytes; the check of every length is incremental.
    static func iban(in t: [UInt8], at i: Int) -> String? {
        @inline(__always) func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        @inline(__always) func letter(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
        guard i + 15 <= t.count, letter(t[i]), letter(t[i + 1]), isDigit(t[i + 2]), isDigit(t[i + 3]) else { return nil }
        // The moved head (country and check digits) as digits: letters count two digits (a = 10 … z = 35).
        var head = 0
        var headFactor = 1
        for k in 0..<4 {
            let c = t[i + k]
            if letter(c) {
                head = head * 100 + Int(c) - 0x61 + 10
                headFactor = headFactor * 100 % 97
            } else {
                head = head * 10 + Int(c) - 0x30
                headFactor = headFactor * 10 % 97
            }
        }
        head %= 97
        var body = 0
        var length = 4
        var bestEnd = -1
        var j = i + 4
        while j < t.count, length < 34 {
            let c = t[j]
            if alnum(c) {
                body = letter(c) ? (body * 100 + Int(c) - 0x61 + 10) % 97 : (body * 10 + Int(c) - 0x30) % 97
                length += 1
                if length >= 15, (body * headFactor + head) % 97 == 1 { bestEnd = j + 1 }
            } else if !((c == 0x20 || c == 0x2D) && j + 1 < t.count && alnum(t[j + 1])) {
                break
            }
            j += 1
        }
        guard bestEnd > 0 else { return nil }
        var iban: [UInt8] = []
        for k in i..<bestEnd where alnum(t[k]) { iban.append(letter(t[k]) ? t[k] - 32 : t[k]) }
        return String(decoding: iban, as: UTF8.self)
    }
}
