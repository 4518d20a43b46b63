/// A token of the Cedar policy grammar with its position.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case identifier(String)
        case number(String)
        /// A string literal's raw text between the quotes, escapes not yet applied.
        case string(String)
        case slot(String)
        case punct(String)
        case eof
    }

    let kind: Kind
    let line: Int
    let column: Int

    var text: String {
        switch kind {
        case .identifier(let s), .number(let s), .slot(let s), .punct(let s): s
        case .string(let s): "\"\(s)\""
        case .eof: "end of input"
        }
    }
}

/// Splits Cedar policy text into tokens, following the reference grammar's lexer.
struct Lexer: SourceScanning {
    let scalars: [Unicode.Scalar]
    var pos = 0
    var line = 1
    var column = 1

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
    }

    /// Tokenizes the whole input.
    static func tokenize(_ text: String) throws(CedarError) -> [Token] {
        var lexer = Lexer(text)
        var tokens: [Token] = []
        while true {
            let t = try lexer.next()
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    private static let twoCharPuncts: Set<String> = ["::", "==", "!=", "<=", ">=", "||", "&&"]
    private static let oneCharPuncts: Set<Unicode.Scalar> = [
        "@", ".", ",", ";", ":", "(", ")", "{", "}", "[", "]", "<", ">", "+", "-", "*", "/", "%", "!", "=",
    ]

    static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c)
    }

    static func isIdentContinue(_ c: Unicode.Scalar) -> Bool {
        isIdentStart(c) || ("0"..."9").contains(c)
    }

    private mutating func next() throws(CedarError) -> Token {
        skipTrivia()
        let startLine = line
        let startColumn = column
        func token(_ k: Token.Kind) -> Token { Token(kind: k, line: startLine, column: startColumn) }
        guard pos < scalars.count else { return token(.eof) }
        let c = scalars[pos]
        if Lexer.isIdentStart(c) {
            var s = String.UnicodeScalarView()
            while pos < scalars.count, Lexer.isIdentContinue(scalars[pos]) {
                s.append(scalars[pos])
                advance()
            }
            return token(.identifier(String(s)))
        }
        if ("0"..."9").contains(c) {
            var s = String.UnicodeScalarView()
            while pos < scalars.count, ("0"..."9").contains(scalars[pos]) {
                s.append(scalars[pos])
                advance()
            }
            return token(.number(String(s)))
        }
        if c == "\"" {
            advance()
            var s = String.UnicodeScalarView()
            while true {
                guard pos < scalars.count else {
                    throw CedarError(.syntax, "\(startLine):\(startColumn): unterminated string literal")
                }
                let d = scalars[pos]
                if d == "\"" {
                    advance()
                    return token(.string(String(s)))
                }
                if d == "\\" {
                    guard pos + 1 < scalars.count, scalars[pos + 1] != "\n", scalars[pos + 1] != "\r" else {
                        throw CedarError(.syntax, "\(line):\(column): unterminated string literal")
                    }
                    s.append(d)
                    advance()
                }
                s.append(scalars[pos])
                advance()
            }
        }
        if c == "?" {
            advance()
            var s = String.UnicodeScalarView(["?"])
            guard pos < scalars.count, Lexer.isIdentStart(scalars[pos]) else {
                throw CedarError(.syntax, "\(startLine):\(startColumn): unexpected character `?`")
            }
            while pos < scalars.count, Lexer.isIdentContinue(scalars[pos]) {
                s.append(scalars[pos])
                advance()
            }
            return token(.slot(String(s)))
        }
        if pos + 1 < scalars.count {
            let two = String(String.UnicodeScalarView([c, scalars[pos + 1]]))
            if Lexer.twoCharPuncts.contains(two) {
                advance()
                advance()
                return token(.punct(two))
            }
        }
        if Lexer.oneCharPuncts.contains(c) {
            advance()
            return token(.punct(String(c)))
        }
        throw CedarError(.syntax, "\(startLine):\(startColumn): unexpected character `\(c.escaped(asASCII: true))`")
    }

    // MARK: - Escapes and names

    /// Applies Cedar's (Rust-style) string escapes.
    ///
    /// With `pattern` set, `\*` is a literal star and a bare `*` is a wildcard.
    static func unescape(_ raw: String, pattern: Bool) -> [PatternElement]? {
        let s = Array(raw.unicodeScalars)
        var out: [PatternElement] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\r" { return nil }
            if c != "\\" {
                out.append(pattern && c == "*" ? .wildcard : .scalar(c))
                i += 1
                continue
            }
            i += 1
            guard i < s.count else { return nil }
            let e = s[i]
            i += 1
            var produced: Unicode.Scalar
            switch e {
            case "n": produced = "\n"
            case "r": produced = "\r"
            case "t": produced = "\t"
            case "\\": produced = "\\"
            case "0": produced = "\0"
            case "'": produced = "'"
            case "\"": produced = "\""
            case "*" where pattern:
                out.append(.scalar("*"))
                continue
            case "x":
                guard i + 1 < s.count, let hi = s[i].hexDigitValue, let lo = s[i + 1].hexDigitValue else { return nil }
                i += 2
                let v = hi * 16 + lo
                guard v <= 0x7F else { return nil }
                produced = Unicode.Scalar(UInt8(v))
            case "u":
                guard i < s.count, s[i] == "{" else { return nil }
                i += 1
                var value: UInt32 = 0
                var digits = 0
                var first = true
                while true {
                    guard i < s.count else { return nil }
                    let d = s[i]
                    i += 1
                    if d == "}" { break }
                    if d == "_" {
                        if first { return nil }
                        continue
                    }
                    first = false
                    guard let h = d.hexDigitValue else { return nil }
                    digits += 1
                    if digits > 6 { return nil }
                    value = value * 16 + UInt32(h)
                }
                guard digits > 0, let scalar = Unicode.Scalar(value) else { return nil }
                produced = scalar
            default:
                return nil
            }
            // A star written as an escape other than `\*` is still a wildcard in a pattern.
            out.append(pattern && produced == "*" ? .wildcard : .scalar(produced))
        }
        return out
    }

    /// Applies escapes to a string literal (no wildcards).
    static func unescapeString(_ raw: String) -> String? {
        guard let elems = unescape(raw, pattern: false) else { return nil }
        var v = String.UnicodeScalarView()
        for case .scalar(let c) in elems { v.append(c) }
        return String(v)
    }

    /// Quotes a string in Cedar syntax.
    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out += "\\u{\(String(c.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    /// Whether `text` is a valid identifier.
    static func isValidIdentifier(_ text: Substring) -> Bool {
        guard let first = text.unicodeScalars.first, isIdentStart(first) else { return false }
        return text.unicodeScalars.allSatisfy(isIdentContinue)
    }

    /// Words that cannot name a type, an attribute after `.`, or a namespace.
    static let reservedWords: Set<String> = ["true", "false", "if", "then", "else", "in", "is", "has", "like"]

    /// Whether `text` is a valid, possibly namespaced, name such as `A::B`.
    static func isValidName(_ text: String) -> Bool {
        let parts = text.split(separator: "::", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { isValidIdentifier($0) && !reservedWords.contains(String($0)) }
    }
}

extension Unicode.Scalar {
    var hexDigitValue: Int? {
        switch self {
        case "0"..."9": Int(value - 48)
        case "a"..."f": Int(value - 97 + 10)
        case "A"..."F": Int(value - 65 + 10)
        default: nil
        }
    }
}
