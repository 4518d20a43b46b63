/// A cursor over source text with line and column tracking, shared by the policy
/// and schema lexers, which have the same whitespace and `//` comment rules.
protocol SourceScanning {
    var scalars: [Unicode.Scalar] { get }
    var pos: Int { get set }
    var line: Int { get set }
    var column: Int { get set }
}

extension SourceScanning {
    /// Moves past one scalar, counting lines.
    mutating func advance() {
        if scalars[pos] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        pos += 1
    }

    /// Skips whitespace (Unicode `White_Space`, as the reference's `\s`) and `//` comments.
    mutating func skipTrivia() {
        while pos < scalars.count {
            let c = scalars[pos]
            if c.properties.isWhitespace {
                advance()
            } else if c == "/", pos + 1 < scalars.count, scalars[pos + 1] == "/" {
                while pos < scalars.count, scalars[pos] != "\n", scalars[pos] != "\r" { advance() }
            } else {
                return
            }
        }
    }
}
