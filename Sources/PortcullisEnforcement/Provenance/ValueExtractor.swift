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
/// Written by hand, on UTF-8 bytes, in one pass plus work per candidate token: it runs on every answer before the
/// agent sees it, and the rules are the gateway's own. Bytes of non-ASCII characters count as letters; text that is
/// not plain ASCII is NFKC-normalized and lowercased first.
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

    /// The values in `text`, each once.
    public static func values(in text: String) -> [Value] {
        var out: [Value] = []
        var seen = Set<Seen>(minimumCapacity: 64)
        scan(text) { kind, bytes, plain in
            let exact = String(decoding: bytes, as: UTF8.self)
            guard out.count < maximumValues, seen.insert(Seen(kind: kind, exact: exact)).inserted else { return }
            out.append(Value(kind: kind, exact: exact, skeleton: plain ? exact : skeleton(of: exact, kind: kind)))
        }
        return out
    }

    struct Seen: Hashable {
        var kind: Kind
        var exact: String
    }

    /// Calls `body` with the exact and skeleton forms (UTF-8) of every value in `text`, without building a `Value`:
    /// the gateway hashes what it reads straight from the bytes. A value may be reported more than once.
    public static func forEachValue(in text: String,
                                    _ body: (_ exact: UnsafeBufferPointer<UInt8>, _ skeleton: UnsafeBufferPointer<UInt8>) -> Void) {
        var reported = 0
        scan(text) { kind, bytes, plain in
            guard reported < maximumValues else { return }
            reported += 1
            if plain {
                body(bytes, bytes)
            } else {
                var skeleton = skeleton(of: String(decoding: bytes, as: UTF8.self), kind: kind)
                skeleton.withUTF8 { body(bytes, $0) }
            }
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

    typealias Emit = (_ kind: Kind, _ exact: UnsafeBufferPointer<UInt8>, _ plain: Bool) -> Void

    /// Every value of `text`, to `emit` (exact form as lowercased UTF-8; `plain` when the skeleton is the same).
    static func scan(_ text: String, _ emit: Emit) {
        withoutActuallyEscaping(emit) { emit in scanEscaping(text, emit) }
    }

    private static func scanEscaping(_ text: String, _ emit: @escaping Emit) {
        var copy = text
        copy.withUTF8 { raw in
            // Plain: ASCII without `%` or `&` (nothing the normalizer would change).
            let (ascii, escapes) = asciiAndEscapes(raw)
            let plain = ascii && !escapes
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * Bytes.scannerCapacity) { memory in
                var scanner = Scanner(emit: emit, plain: plain, memory: memory.baseAddress!)
                if ascii {
                    scanner.scan(raw, wholeText: true)
                } else {
                    var exact = text.precomposedStringWithCompatibilityMapping.lowercased()
                    exact.withUTF8 { scanner.scan($0, wholeText: true) }
                }
                // A model reads the skeleton: identifiers hidden by entities, percent-encoding or invisible
                // characters are found in it too.
                if !plain {
                    var normalized = TextNormalizer.normalize(text).lowercased()
                    if normalized != text.lowercased() { normalized.withUTF8 { scanner.scan($0, wholeText: false) } }
                }
            }
        }
    }

    /// Bytes written into memory the scan owns, of fixed capacity (a token is at most 2,048 bytes, its canonical
    /// form eight more). By hand: appending to an array property checks its uniqueness and capacity on every byte,
    /// which cost as much as the rest of the work on a candidate.
    struct Bytes {
        /// What the scanner's buffers hold.
        static let scannerCapacity = 4_096
        let base: UnsafeMutablePointer<UInt8>
        let capacity: Int
        var count = 0

        init(base: UnsafeMutablePointer<UInt8>, capacity: Int = scannerCapacity) {
            self.base = base
            self.capacity = capacity
        }

        @inline(__always)
        mutating func append(_ b: UInt8) {
            precondition(count < capacity)
            base[count] = b
            count += 1
        }

        mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
            precondition(count + bytes.count <= capacity)
            if let from = bytes.baseAddress { (base + count).update(from: from, count: bytes.count) }
            count += bytes.count
        }

        mutating func removeAll() { count = 0 }
        var isEmpty: Bool { count == 0 }
        var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
    }

    /// Whether `bytes` are all ASCII, and whether any is `%` or `&`; eight bytes at a time (Swift's SIMD types
    /// cost more than this here).
    static func asciiAndEscapes(_ bytes: UnsafeBufferPointer<UInt8>) -> (ascii: Bool, escapes: Bool) {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        // A byte of `w` is zero: (w - 1) borrows into its high bit while ~w keeps it.
        @inline(__always) func hasZero(_ w: UInt64) -> Bool { (w &- ones) & ~w & highs != 0 }
        var high: UInt64 = 0
        var escapes = false
        var i = 0
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= bytes.count {
                let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                high |= w
                if hasZero(w ^ (ones &* 0x25)) || hasZero(w ^ (ones &* 0x26)) { escapes = true }
                i += 8
            }
        }
        var tail: UInt8 = 0
        while i < bytes.count {
            let c = bytes[i]
            tail |= c
            if c == 0x25 || c == 0x26 { escapes = true }
            i += 1
        }
        return (high & highs == 0 && tail < 0x80, escapes)
    }

    /// One pass over the bytes (ASCII case folded on the fly): tokens split at delimiters, runs of digits, IBAN
    /// starts; then the work per candidate, in reused buffers.
    struct Scanner {
        let emit: Emit
        let plain: Bool
        var token: Bytes
        var scratch: Bytes

        /// `memory`: room for two ``Bytes`` buffers.
        init(emit: @escaping Emit, plain: Bool, memory: UnsafeMutablePointer<UInt8>) {
            self.emit = emit
            self.plain = plain
            token = Bytes(base: memory)
            scratch = Bytes(base: memory + Bytes.scannerCapacity)
        }

        mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>, wholeText: Bool) {
            var numbers: [Range<Int>] = []
            var ibanStarts: [Int] = []
            var start = 0
            var digitsFrom = -1
            var digitCount = 0
            var gap = false
            // Most tokens are words: no digit, no `@`, `#`, `.`, `:` or `/`, nothing to extract.
            var interesting = false
            let table = ValueExtractor.classTable
            do {
                var i = 0
                let count = bytes.count
                while i < count {
                    let c = bytes[i]
                    let k = table[Int(c)]
                    defer { i += 1 }
                    if k == ValueExtractor.letterClass, digitsFrom < 0 {
                        // The rest of a word (letters, no digits pending): nothing to do until it ends.
                        while i + 1 < count, table[Int(bytes[i + 1])] == ValueExtractor.letterClass { i += 1 }
                        continue
                    }
                    if k & ValueExtractor.digitClass != 0 {
                        if digitsFrom < 0 {
                            digitsFrom = i
                            // Two letters starting a token, then two digits: perhaps an IBAN.
                            if i == start + 2, i + 1 < count, table[Int(bytes[i - 2])] & ValueExtractor.letterClass != 0,
                               table[Int(bytes[i - 1])] & ValueExtractor.letterClass != 0,
                               table[Int(bytes[i + 1])] & ValueExtractor.digitClass != 0 {
                                ibanStarts.append(start)
                            }
                        }
                        digitCount += 1
                        gap = false
                    } else if digitsFrom >= 0 {
                        if !gap, k & ValueExtractor.numberGapClass != 0 {
                            gap = true
                        } else {
                            if digitCount >= 8 && digitCount <= 20 { numbers.append(digitsFrom..<i) }
                            digitsFrom = -1
                            digitCount = 0
                            gap = false
                        }
                    }
                    if k & ValueExtractor.delimiterClass != 0 {
                        if i > start, interesting { candidate(bytes, start, i) }
                        start = i + 1
                        interesting = false
                        continue
                    }
                    if k & ValueExtractor.interestingClass != 0 { interesting = true }
                }
            }
            if bytes.count > start, interesting { candidate(bytes, start, bytes.count) }
            if digitsFrom >= 0, digitCount >= 8, digitCount <= 20 { numbers.append(digitsFrom..<bytes.count) }
            for r in numbers {
                scratch.removeAll()
                for k in r where bytes[k] &- 0x30 < 10 { scratch.append(bytes[k]) }
                emit(.number, scratch.buffer, plain)
            }
            for i in ibanStarts where ValueExtractor.iban(in: bytes, at: i, into: &scratch) {
                emit(.iban, scratch.buffer, plain)
            }
            if wholeText, bytes.count >= minimumTextLength, bytes.count <= maximumTextLength * 4 {
                ValueExtractor.fold(bytes, into: &scratch)
                let characters = scratch.buffer.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
                if scratch.count >= minimumTextLength, characters <= maximumTextLength {
                    emit(.text, scratch.buffer, plain)
                }
            }
        }

        /// A token that may hold a value: trimmed of sentence punctuation, lowercased, classified.
        mutating func candidate(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
            var a = from, b = to
            while a < b, ValueExtractor.isTrim(bytes[a]) { a += 1 }
            while b > a, ValueExtractor.isTrim(bytes[b - 1]) { b -= 1 }
            guard b > a, b - a <= 2048 else { return }
            let table = ValueExtractor.tokenTable
            var any: UInt8 = 0
            var all: UInt8 = 0xFF
            for k in a..<b {
                let c = table[Int(bytes[k])]
                any |= c
                all &= c
            }
            // What the token is made of, in one pass: every value but a number (found on its own) and a handle
            // (`#4521`) has a letter.
            guard any & ValueExtractor.tokenLetter != 0 || bytes[a] == 0x40 || bytes[a] == 0x23 else { return }
            let shape = Shape(any: any, all: all)
            // Already lowercase (most identifiers): classified in place, without a copy.
            guard any & ValueExtractor.tokenUpper != 0 else {
                classify(UnsafeBufferPointer(rebasing: bytes[a..<b]), shape)
                return
            }
            token.removeAll()
            for k in a..<b { let c = bytes[k]; token.append(c &- 0x41 < 26 ? c | 0x20 : c) }
            classify(token.buffer, shape)
        }

        /// The token classes some byte of a token has (`any`) and every byte has (`all`).
        struct Shape {
            var any: UInt8
            var all: UInt8
        }

        mutating func classify(_ t: UnsafeBufferPointer<UInt8>, _ shape: Shape) {
            switch t[0] {
            case 0x68, 0x77: // h, w
                if starts(t, "http://") || starts(t, "https://") || starts(t, "www.") {
                    if let host = ValueExtractor.canonicalURL(t, into: &scratch) {
                        emit(.url, scratch.buffer, plain)
                        emit(.host, UnsafeBufferPointer(rebasing: t[host]), plain)
                    }
                    return
                }
            case 0x6D: // m
                if starts(t, "mailto:") {
                    let rest = UnsafeBufferPointer(rebasing: t[7...])
                    if !rest.isEmpty { classify(rest, ValueExtractor.shape(of: rest)) }
                    return
                }
            default:
                break
            }
            if shape.any & ValueExtractor.tokenAt != 0 {
                guard let at = t.firstIndex(of: 0x40) else { return }
                if at > 0 {
                    let domain = UnsafeBufferPointer(rebasing: t[(at + 1)...])
                    if ValueExtractor.isDomain(domain) {
                        emit(.email, t, plain)
                        emit(.host, domain, plain)
                    }
                    return
                }
            }
            if t[0] == 0x40 || t[0] == 0x23, t.count >= 3,
               t.dropFirst().allSatisfy({ ValueExtractor.isWord($0) || $0 == 0x2E }) {
                // The name with and without its sigil: an agent may write either.
                emit(.handle, t, plain)
                emit(.handle, UnsafeBufferPointer(rebasing: t[1...]), plain)
                return
            }
            if shape.any & ValueExtractor.tokenDot != 0, ValueExtractor.isDomain(t) {
                emit(.host, t, plain)
                return
            }
            // An id: letters and digits mixed (msg_8f3a2c, INV-2026-0042, file-7d1e), six characters or more.
            if t.count >= 6, t.count <= 128, shape.any & ValueExtractor.tokenDigit != 0,
               shape.any & ValueExtractor.tokenLetter != 0, shape.all & ValueExtractor.tokenIdByte != 0 {
                emit(.id, t, plain)
            }
        }

        func starts(_ t: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
            let n = prefix.utf8CodeUnitCount
            guard t.count >= n, let base = t.baseAddress else { return false }
            return memcmp(base, prefix.utf8Start, n) == 0
        }
    }

    /// Token classes, for ``Scanner/candidate(_:_:_:)``: a letter (ASCII or any byte of a non-ASCII character), an
    /// uppercase ASCII letter, a digit, `@`, `.`, and the bytes an id is made of (letters, digits, `_-./:`).
    static let tokenLetter: UInt8 = 1
    static let tokenUpper: UInt8 = 2
    static let tokenDigit: UInt8 = 4
    static let tokenAt: UInt8 = 8
    static let tokenDot: UInt8 = 16
    static let tokenIdByte: UInt8 = 32
    nonisolated(unsafe) static let tokenTable: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        for i in 0..<256 {
            let b = UInt8(i)
            var k: UInt8 = 0
            if isLetter(b) { k |= tokenLetter }
            if b &- 0x41 < 26 { k |= tokenUpper }
            if isDigit(b) { k |= tokenDigit }
            if b == 0x40 { k |= tokenAt }
            if b == 0x2E { k |= tokenDot }
            if isWord(b) || b == 0x2E || b == 0x2F || b == 0x3A { k |= tokenIdByte }
            p[i] = k
        }
        return UnsafePointer(p)
    }()

    static func shape(of t: UnsafeBufferPointer<UInt8>) -> Scanner.Shape {
        var shape = Scanner.Shape(any: 0, all: 0xFF)
        for b in t {
            shape.any |= tokenTable[Int(b)]
            shape.all &= tokenTable[Int(b)]
        }
        return shape
    }

    static let digitClass: UInt8 = 1
    static let delimiterClass: UInt8 = 2
    /// Bytes that make a token worth classifying: digits, `@`, `#`, `.`, `:`, `/`.
    static let interestingClass: UInt8 = 4
    /// Single separators allowed inside a run of digits: space, `-`, `.`, `/`, `(`, `)`.
    static let numberGapClass: UInt8 = 8
    /// ASCII letters (an IBAN's country code).
    static let letterClass: UInt8 = 16
    /// ``classes`` at a fixed address: the main loop reads it without retaining an array on every byte.
    /// Written once, before first use, never freed or changed.
    nonisolated(unsafe) static let classTable: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        p.initialize(from: classes, count: 256)
        return UnsafePointer(p)
    }()

    /// Every byte's classes, for the main loop: one lookup instead of a chain of comparisons.
    static let classes: [UInt8] = (0..<256).map { i -> UInt8 in
        let b = UInt8(i)
        var k: UInt8 = 0
        if b &- 0x30 < 10 { k |= digitClass | interestingClass }
        if isDelimiter(b) { k |= delimiterClass }
        if b == 0x40 || b == 0x23 || b == 0x2E || b == 0x3A || b == 0x2F { k |= interestingClass }
        if b == 0x20 || b == 0x2D || b == 0x2E || b == 0x2F || b == 0x28 || b == 0x29 { k |= numberGapClass }
        if (b | 0x20) &- 0x61 < 26 { k |= letterClass }
        return k
    }

    static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    /// ASCII letters and every byte of a non-ASCII character.
    static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 || b >= 0x80 }
    static func isWord(_ b: UInt8) -> Bool { isLetter(b) || isDigit(b) || b == 0x5F || b == 0x2D }
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

    /// Whitespace runs folded to one space, trimmed, ASCII lowercased.
    static func fold(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout Bytes) {
        out.removeAll()
        var space = false
        for b in bytes {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C {
                if !space && !out.isEmpty { out.append(0x20) }
                space = true
            } else {
                out.append(b &- 0x41 < 26 ? b | 0x20 : b)
                space = false
            }
        }
        if out.count > 0, out.base[out.count - 1] == 0x20 { out.count -= 1 }
    }

    static func fold(_ bytes: [UInt8]) -> String {
        // Folding never lengthens a text: it fits in its own size.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(1, bytes.count)) { memory in
            var out = Bytes(base: memory.baseAddress!, capacity: bytes.count)
            bytes.withUnsafeBufferPointer { fold($0, into: &out) }
            return String(decoding: out.buffer, as: UTF8.self)
        }
    }

    /// `label(.label)+` whose last label is two letters or more.
    static func isDomain(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = s.count
        if end > 0, s[end - 1] == 0x2E { end -= 1 }
        var labels = 0
        var labelStart = 0
        var tldLetters = true
        var i = 0
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

    /// Writes a URL's comparable form into `out` (http as https, user information and default ports dropped,
    /// fragment and trailing slash dropped; lowercased like every value) and returns the range of its host in `t`;
    /// nil when it has no host. By hand: Foundation's `URLComponents` costs more than all the rest of an answer's
    /// extraction.
    static func canonicalURL(_ t: UnsafeBufferPointer<UInt8>, into out: inout Bytes) -> Range<Int>? {
        func has(_ prefix: StaticString) -> Bool {
            let p = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
            return t.count >= p.count && zip(t, p).allSatisfy { $0 == $1 }
        }
        var a = 0
        if has("https://") {
            a = 8
        } else if has("http://") {
            a = 7
        } else if !has("www.") {
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
        var portStart = authorityEnd
        if hostStart < authorityEnd, let colon = t[hostStart..<authorityEnd].lastIndex(of: 0x3A), t[hostStart] != 0x5B {
            hostEnd = colon
            portStart = colon + 1
        }
        while hostEnd > hostStart, t[hostEnd - 1] == 0x2E { hostEnd -= 1 }
        guard hostEnd > hostStart else { return nil }
        while end > authorityEnd, t[end - 1] == 0x2F || t[end - 1] == 0x3F { end -= 1 }
        out.removeAll()
        for b in "https://".utf8 { out.append(b) }
        out.append(UnsafeBufferPointer(rebasing: t[hostStart..<hostEnd]))
        let port = t[portStart..<authorityEnd]
        if !port.isEmpty, !port.elementsEqual("443".utf8), !port.elementsEqual("80".utf8) {
            out.append(0x3A)
            out.append(UnsafeBufferPointer(rebasing: port))
        }
        out.append(UnsafeBufferPointer(rebasing: t[authorityEnd..<end]))
        return hostStart..<hostEnd
    }

    /// Writes into `out` the IBAN starting at `i` (two letters, two check digits, 11 to 30 letters or digits, spaces
    /// or dashes allowed in groups, ending where a word ends) whose ISO 7064 mod-97 check holds, uppercase without
    /// separators; the longest that checks out (a word may follow). The check of every length is incremental. False when there is none.
    static func iban(in t: UnsafeBufferPointer<UInt8>, at i: Int, into out: inout Bytes) -> Bool {
        @inline(__always) func letter(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 }
        @inline(__always) func alnum(_ b: UInt8) -> Bool { letter(b) || b &- 0x30 < 10 }
        @inline(__always) func value(_ b: UInt8) -> Int { letter(b) ? Int(b | 0x20) &- 0x61 &+ 10 : Int(b) &- 0x30 }
        guard i + 15 <= t.count, letter(t[i]), letter(t[i + 1]), isDigit(t[i + 2]), isDigit(t[i + 3]),
              i == 0 || !(alnum(t[i - 1]) || t[i - 1] >= 0x80) else { return false }
        // The moved head (country and check digits) as digits: letters count two digits (a = 10 … z = 35).
        var head = 0
        var headFactor = 1
        for k in 0..<4 {
            let c = t[i + k]
            head = letter(c) ? head * 100 + value(c) : head * 10 + value(c)
            headFactor = headFactor * (letter(c) ? 100 : 10) % 97
        }
        head %= 97
        var body = 0
        var length = 4
        var bestEnd = -1
        var j = i + 4
        while j < t.count, length < 34 {
            let c = t[j]
            if alnum(c) {
                // Reduced only when large (below 2^57 after the next step): one division per character costs more
                // than the rest of the scan of an IBAN.
                body = body &* (letter(c) ? 100 : 10) &+ value(c)
                if body >= 1 << 50 { body %= 97 }
                length &+= 1
                // It may end only where a word does.
                if length >= 15, j + 1 == t.count || !alnum(t[j + 1]), (body % 97 * headFactor + head) % 97 == 1 {
                    bestEnd = j + 1
                }
            } else if !((c == 0x20 || c == 0x2D) && j + 1 < t.count && alnum(t[j + 1])) {
                break
            }
            j += 1
        }
        guard bestEnd > 0 else { return false }
        out.removeAll()
        for k in i..<bestEnd where alnum(t[k]) { out.append(letter(t[k]) ? t[k] & 0xDF : t[k]) }
        return true
    }
}
