/// Splits `.cedarschema` text into tokens, following the reference grammar's lexer.
///
/// The schema grammar has its own token set (`?` is punctuation, there are no
/// operators), so it does not share ``Lexer``; it reuses its escape handling.
struct SchemaLexer: SourceScanning {
    /// A token with the position of its first character.
    struct Token: Sendable {
        enum Kind: Sendable, Equatable {
            /// A word: an identifier or a keyword (the parser tells them apart by context).
            case word(String)
            /// A string literal, escapes applied.
            case string(String)
            /// A run of digits; the grammar never accepts one, but it is a token of its own.
            case number(String)
            case punct(String)
            case eof
        }

        let kind: Kind
        let line: Int
        let column: Int

        /// The token as written, for error messages.
        var text: String {
            switch kind {
            case .word(let s), .number(let s), .punct(let s): "`\(s)`"
            case .string(let s): "`\(Lexer.quote(s))`"
            case .eof: "end of input"
            }
        }
    }

    let scalars: [Unicode.Scalar]
    var pos = 0
    var line = 1
    var column = 1

    private init(_ text: String) {
        scalars = Array(text.unicodeScalars)
    }

    /// Tokenizes a whole schema; the last token is `.eof`.
    static func tokenize(_ text: String) throws(CedarError) -> [Token] {
        var lexer = SchemaLexer(text)
        var tokens: [Token] = []
        while true {
            let t = try lexer.next()
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    private static let puncts: Set<Unicode.Scalar> = [",", ";", ":", "{", "}", "[", "]", "<", ">", "=", "?", "@", "(", ")"]

    private mutating func next() throws(CedarError) -> Token {
        skipTrivia()
        let startLine = line, startColumn = column
        func token(_ k: Token.Kind) -> Token { Token(kind: k, line: startLine, column: startColumn) }
        func error(_ message: String) -> CedarError {
            CedarError(.schema, "\(startLine):\(startColumn): \(message)")
        }
        guard pos < scalars.count else { return token(.eof) }
        let start = pos
        let c = scalars[pos]
        if Lexer.isIdentStart(c) {
            while pos < scalars.count, Lexer.isIdentContinue(scalars[pos]) { advance() }
            return token(.word(String(String.UnicodeScalarView(scalars[start..<pos]))))
        }
        if ("0"..."9").contains(c) {
            while pos < scalars.count, ("0"..."9").contains(scalars[pos]) { advance() }
            return token(.number(String(String.UnicodeScalarView(scalars[start..<pos]))))
        }
        if c == "\"" {
            advance()
            while true {
                guard pos < scalars.count else { throw error("unterminated string literal") }
                let d = scalars[pos]
                if d == "\"" { break }
                if d == "\\" {
                    // The reference's token regex is `"(\\.|[^"\\])*"`, and `.` does not match a newline.
                    guard pos + 1 < scalars.count, scalars[pos + 1] != "\n" else {
                        throw error("invalid token: unterminated string literal")
                    }
                    advance()
                }
                advance()
            }
            let raw = String(String.UnicodeScalarView(scalars[(start + 1)..<pos]))
            advance()
            guard let value = Lexer.unescapeString(raw) else {
                throw error("invalid escape sequence in string literal \"\(raw)\"")
            }
            return token(.string(value))
        }
        if c == ":" {
            advance()
            if pos < scalars.count, scalars[pos] == ":" {
                advance()
                return token(.punct("::"))
            }
            return token(.punct(":"))
        }
        if SchemaLexer.puncts.contains(c) {
            advance()
            return token(.punct(String(c)))
        }
        throw error("unexpected character `\(c.escaped(asASCII: true))`")
    }
}
