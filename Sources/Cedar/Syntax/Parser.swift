/// A recursive-descent parser for Cedar policies, following the reference grammar
/// (`grammar.lalrpop`) and its conversion rules (`cst_to_ast.rs`).
struct Parser {
    private let tokens: [Token]
    private var index = 0
    private var depth = 0

    /// Parentheses, lists, records and calls may nest this deep; more is refused
    /// so that hostile input cannot exhaust the stack of the parser or the evaluator.
    static let maxNesting = 200
    /// Operator chains (`a + b + …`) build left-nested trees, and releasing a tree
    /// recurses through it; a policy may hold at most this many operators.
    static let maxOperators = 10_000
    private var operators = 0

    init(_ text: String) throws(CedarError) {
        tokens = try Lexer.tokenize(text)
    }

    /// Parses a whole policy file. Ids are positional: `policy0`, `policy1`, …
    static func parsePolicies(_ text: String) throws(CedarError) -> [Policy] {
        var parser = try Parser(text)
        var policies: [Policy] = []
        while !parser.atEnd {
            policies.append(try parser.parsePolicy(id: "policy\(policies.count)"))
        }
        return policies
    }

    /// Parses a single expression (used by tests and tools).
    static func parseExpression(_ text: String) throws(CedarError) -> Expr {
        var parser = try Parser(text)
        let e = try parser.parseExpr()
        guard parser.atEnd else { throw parser.unexpected("end of input") }
        return e
    }

    // MARK: - Token helpers

    private var current: Token { tokens[index] }
    private var atEnd: Bool { current.kind == .eof }

    private func peek(_ offset: Int = 0) -> Token {
        tokens[min(index + offset, tokens.count - 1)]
    }

    private mutating func advance() -> Token {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func isPunct(_ p: String, _ offset: Int = 0) -> Bool {
        peek(offset).kind == .punct(p)
    }

    private func isKeyword(_ word: String, _ offset: Int = 0) -> Bool {
        peek(offset).kind == .identifier(word)
    }

    private mutating func eat(_ p: String) -> Bool {
        if isPunct(p) {
            index += 1
            return true
        }
        return false
    }

    private mutating func expect(_ p: String) throws(CedarError) {
        guard eat(p) else { throw unexpected("`\(p)`") }
    }

    private func error(_ message: String, at token: Token? = nil) -> CedarError {
        let t = token ?? current
        return CedarError(.syntax, "\(t.line):\(t.column): \(message)")
    }

    private func unexpected(_ expected: String) -> CedarError {
        error("unexpected \(current.kind == .eof ? "end of input" : "token `\(current.text)`"), expected \(expected)")
    }

    private mutating func identifier(_ what: String) throws(CedarError) -> String {
        guard case .identifier(let s) = current.kind else { throw unexpected(what) }
        index += 1
        return s
    }

    private mutating func stringLiteral(_ what: String) throws(CedarError) -> (raw: String, token: Token) {
        guard case .string(let s) = current.kind else { throw unexpected(what) }
        return (s, advance())
    }

    private func unescaped(_ raw: String, at token: Token) throws(CedarError) -> String {
        guard let s = Lexer.unescapeString(raw) else {
            throw error("invalid escape sequence in string literal", at: token)
        }
        return s
    }

    // MARK: - Policies

    private mutating func parsePolicy(id: String) throws(CedarError) -> Policy {
        let start = current
        operators = 0
        var annotations: [(key: String, value: String)] = []
        while isPunct("@") {
            let at = advance()
            let key = try identifier("an annotation name")
            var value = ""
            if eat("(") {
                let (raw, tok) = try stringLiteral("a string annotation value")
                value = try unescaped(raw, at: tok)
                try expect(")")
            }
            if annotations.contains(where: { $0.key == key }) {
                throw error("duplicate annotation `@\(key)`", at: at)
            }
            annotations.append((key, value))
        }
        let effectToken = current
        let effectWord = try identifier("`permit` or `forbid`")
        guard let effect = Effect(rawValue: effectWord) else {
            throw error("invalid policy effect `\(effectWord)`, expected `permit` or `forbid`", at: effectToken)
        }
        try expect("(")
        let scopeToken = current
        var principal = ScopeConstraint.any
        var action = ActionConstraint.any
        var resource = ScopeConstraint.any
        var count = 0
        while !isPunct(")") {
            let varToken = current
            let name = try identifier("`principal`, `action` or `resource`")
            let expected = ["principal", "action", "resource"]
            guard count < 3 else { throw error("a policy scope has exactly three parts", at: varToken) }
            guard name == expected[count] else {
                throw error("expected `\(expected[count])` in the policy scope, found `\(name)`", at: varToken)
            }
            switch count {
            case 0: principal = try parseScope(variable: name)
            case 1: action = try parseActionScope()
            default: resource = try parseScope(variable: name)
            }
            count += 1
            if !eat(",") { break }
        }
        try expect(")")
        guard count == 3 else {
            throw error("a policy scope must name `principal`, `action` and `resource`", at: scopeToken)
        }
        var conditions: [Condition] = []
        while case .identifier(let word) = current.kind {
            let condToken = advance()
            guard word == "when" || word == "unless" else {
                throw error("expected `when` or `unless`, found `\(word)`", at: condToken)
            }
            try expect("{")
            if isPunct("}") {
                throw error("`\(word)` clause must not be empty", at: condToken)
            }
            let body = try parseExpr()
            try expect("}")
            conditions.append(Condition(isWhen: word == "when", body: body))
        }
        try expect(";")
        return Policy(id: id, annotations: annotations, effect: effect, principal: principal, action: action,
                      resource: resource, conditions: conditions, line: start.line, column: start.column)
    }

    private mutating func parseScope(variable: String) throws(CedarError) -> ScopeConstraint {
        if isPunct(":") {
            throw error("type annotations are not allowed in the policy scope")
        }
        var type: EntityType?
        if isKeyword("is") {
            index += 1
            type = try parseEntityTypeName()
        }
        if eat("==") {
            if type != nil { throw error("`is` cannot be combined with `==` in the policy scope") }
            return .equal(try parseScopeEntity(variable: variable))
        }
        if isKeyword("in") {
            index += 1
            let uid = try parseScopeEntity(variable: variable)
            if isKeyword("is") {
                throw error("`is` must come before `in` in the policy scope (`\(variable) is T in E`)")
            }
            if let type { return .isTypeMemberOf(type, uid) }
            return .memberOf(uid)
        }
        if isPunct("=") { throw error("`=` is not an operator; use `==`") }
        if case .punct(let p) = current.kind, ["!=", "<", "<=", ">", ">="].contains(p) {
            throw error("`\(p)` is not allowed in the policy scope; use `==`, `in` or `is`")
        }
        if let type { return .isType(type) }
        return .any
    }

    private mutating func parseScopeEntity(variable: String) throws(CedarError) -> EntityUID {
        if case .slot(let s) = current.kind {
            throw error("template slot `\(s)` found: templates are not supported, only static policies")
        }
        let tok = current
        guard case .identifier = current.kind else {
            throw error("expected an entity uid like `Type::\"id\"` after `\(variable) ==` or `\(variable) in`")
        }
        let uid = try parseEntityRef()
        guard uid != nil, let uid else { throw error("expected an entity uid in the policy scope", at: tok) }
        return uid
    }

    private mutating func parseActionScope() throws(CedarError) -> ActionConstraint {
        if isPunct(":") {
            throw error("type annotations are not allowed in the policy scope")
        }
        if isKeyword("is") { throw error("`is` is not allowed in the action scope") }
        let constraint: ActionConstraint
        let tok = current
        if eat("==") {
            constraint = .equal(try parseScopeEntity(variable: "action"))
        } else if isKeyword("in") {
            index += 1
            if eat("[") {
                var uids: [EntityUID] = []
                while !isPunct("]") {
                    uids.append(try parseScopeEntity(variable: "action"))
                    if !eat(",") { break }
                }
                try expect("]")
                constraint = .memberOfAny(uids)
            } else {
                constraint = .memberOf(try parseScopeEntity(variable: "action"))
                if isKeyword("is") { throw error("`is` is not allowed in the action scope") }
            }
        } else {
            if isPunct("=") { throw error("`=` is not an operator; use `==`") }
            if case .punct(let p) = current.kind, ["!=", "<", "<=", ">", ">="].contains(p) {
                throw error("`\(p)` is not allowed in the action scope; use `==` or `in`")
            }
            return .any
        }
        let uids: [EntityUID]
        switch constraint {
        case .equal(let u), .memberOf(let u): uids = [u]
        case .memberOfAny(let us): uids = us
        case .any: uids = []
        }
        if let bad = uids.first(where: { !$0.type.isActionType }) {
            throw error("expected an entity uid of type `Action` in the action scope, found `\(bad)`", at: tok)
        }
        return constraint
    }

    /// Parses `A::B::"id"`, or returns nil (without consuming) when the name has no id.
    private mutating func parseEntityRef() throws(CedarError) -> EntityUID? {
        let save = index
        var parts: [String] = []
        while case .identifier(let s) = current.kind {
            parts.append(s)
            index += 1
            guard eat("::") else { index = save; return nil }
            if case .string(let raw) = current.kind {
                let tok = advance()
                try checkNamePath(parts, at: tok)
                return EntityUID(type: EntityType(parts.joined(separator: "::")),
                                 id: CedarString(try unescaped(raw, at: tok)))
            }
            if isPunct("{") {
                throw error("entity records in uids (`Type::{…}`) are not supported")
            }
        }
        index = save
        return nil
    }

    private func checkNamePath(_ parts: [String], at token: Token) throws(CedarError) {
        for p in parts where Lexer.reservedWords.contains(p) {
            throw error("`\(p)` is a reserved word and cannot be used in a name", at: token)
        }
    }

    private mutating func parseEntityTypeName() throws(CedarError) -> EntityType {
        let tok = current
        var parts = [try identifier("an entity type name")]
        while isPunct("::"), case .identifier = peek(1).kind {
            index += 1
            parts.append(try identifier("an identifier"))
        }
        if isPunct("::") { throw error("expected an entity type name, found an entity uid", at: tok) }
        try checkNamePath(parts, at: tok)
        return EntityType(parts.joined(separator: "::"))
    }

    // MARK: - Expressions

    mutating func parseExpr() throws(CedarError) -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxNesting {
            throw error("expression nested more than \(Parser.maxNesting) levels deep")
        }
        return try parseExprBody()
    }

    /// Counts one operator node against the policy's budget.
    private mutating func countOperator() throws(CedarError) {
        operators += 1
        if operators > Parser.maxOperators {
            throw error("policy has more than \(Parser.maxOperators) operators")
        }
    }

    private mutating func parseExprBody() throws(CedarError) -> Expr {
        if isKeyword("if") {
            index += 1
            let c = try parseExpr()
            guard isKeyword("then") else { throw unexpected("`then`") }
            index += 1
            let t = try parseExpr()
            guard isKeyword("else") else { throw unexpected("`else`") }
            index += 1
            let e = try parseExpr()
            return .ifThenElse(c, t, e)
        }
        return try parseOr()
    }

    private mutating func parseOr() throws(CedarError) -> Expr {
        var lhs = try parseAnd()
        while eat("||") {
            try countOperator()
            lhs = .or(lhs, try parseAnd())
        }
        return lhs
    }

    private mutating func parseAnd() throws(CedarError) -> Expr {
        var lhs = try parseRelation()
        while eat("&&") {
            try countOperator()
            lhs = .and(lhs, try parseRelation())
        }
        return lhs
    }

    private static let relationalOps: [String: BinaryOp] = [
        "==": .equal, "!=": .notEqual, "<": .less, "<=": .lessEqual, ">": .greater, ">=": .greaterEqual,
    ]

    private mutating func parseRelation() throws(CedarError) -> Expr {
        let lhs = try parseAdd()
        if isKeyword("has") {
            index += 1
            return try parseHas(lhs)
        }
        if isKeyword("like") {
            let likeToken = advance()
            guard case .string(let raw) = current.kind, !isAccessor(peek(1)) else {
                throw error("the right side of `like` must be a string literal pattern", at: likeToken)
            }
            let tok = advance()
            guard let elems = Lexer.unescape(raw, pattern: true) else {
                throw error("invalid escape sequence in pattern", at: tok)
            }
            return try noFurtherRelation(.like(lhs, Pattern(elems)))
        }
        if isKeyword("is") {
            index += 1
            let type = try parseEntityTypeName()
            if isKeyword("in") {
                index += 1
                let rhs = try parseAdd()
                return try noFurtherRelation(.and(.isType(lhs, type), .binary(.memberOf, lhs, rhs)))
            }
            return try noFurtherRelation(.isType(lhs, type))
        }
        let op: BinaryOp
        if case .punct(let p) = current.kind, let o = Parser.relationalOps[p] {
            op = o
        } else if isKeyword("in") {
            op = .memberOf
        } else if isPunct("=") {
            throw error("`=` is not an operator; use `==`")
        } else {
            return lhs
        }
        index += 1
        let rhs = try parseAdd()
        return try noFurtherRelation(.binary(op, lhs, rhs))
    }

    private func isAccessor(_ t: Token) -> Bool {
        t.kind == .punct(".") || t.kind == .punct("[") || t.kind == .punct("(")
    }

    private mutating func noFurtherRelation(_ e: Expr) throws(CedarError) -> Expr {
        if case .punct(let p) = current.kind, Parser.relationalOps[p] != nil || p == "=" {
            throw error("multiple relational operators (`<`, `==`, `in`, …) must be separated by parentheses")
        }
        if isKeyword("in") || isKeyword("has") || isKeyword("like") || isKeyword("is") {
            throw error("multiple relational operators (`<`, `==`, `in`, …) must be separated by parentheses")
        }
        return e
    }

    /// `e has a`, `e has "a"`, or `e has a.b.c` (which means `e has a && e.a has b && e.a.b has c`).
    private mutating func parseHas(_ target: Expr) throws(CedarError) -> Expr {
        let tok = current
        if case .string(let raw) = current.kind {
            index += 1
            if isAccessor(current) { throw error("invalid attribute after `has`", at: tok) }
            return try noFurtherRelation(.hasAttr(target, CedarString(try unescaped(raw, at: tok))))
        }
        guard case .identifier(let first) = current.kind else {
            throw error("expected an attribute name after `has`", at: tok)
        }
        if first == "true" || first == "false" {
            throw error("`\(first)` is a reserved word and cannot be an attribute name", at: tok)
        }
        index += 1
        if isPunct("::") { throw error("a path cannot be used as an attribute name after `has`", at: tok) }
        var path = [first]
        while eat(".") {
            try countOperator()
            let t = current
            let name = try identifier("an attribute name")
            if Lexer.reservedWords.contains(name) {
                throw error("`\(name)` is a reserved word and cannot be an attribute name", at: t)
            }
            path.append(name)
        }
        if isPunct("[") || isPunct("(") { throw error("invalid attribute after `has`", at: tok) }
        var result: Expr = .hasAttr(target, CedarString(path[0]))
        var prefix = target
        for i in 1..<path.count {
            prefix = .getAttr(prefix, CedarString(path[i - 1]))
            result = .and(result, .hasAttr(prefix, CedarString(path[i])))
        }
        return try noFurtherRelation(result)
    }

    private mutating func parseAdd() throws(CedarError) -> Expr {
        var lhs = try parseMult()
        while true {
            if eat("+") {
                try countOperator()
                lhs = .binary(.add, lhs, try parseMult())
            } else if eat("-") {
                try countOperator()
                lhs = .binary(.subtract, lhs, try parseMult())
            } else {
                return lhs
            }
        }
    }

    private mutating func parseMult() throws(CedarError) -> Expr {
        var lhs = try parseUnary()
        while true {
            if eat("*") {
                try countOperator()
                lhs = .binary(.multiply, lhs, try parseUnary())
            } else if isPunct("/") || isPunct("%") {
                throw error("`\(current.text)` is not supported: Cedar has no division or remainder")
            } else {
                return lhs
            }
        }
    }

    private mutating func parseUnary() throws(CedarError) -> Expr {
        let tok = current
        if isPunct("!") {
            var count = 0
            while eat("!") { count += 1 }
            if count > 4 { throw error("too many `!` in a row (at most 4)", at: tok) }
            var e = try parseMember()
            for _ in 0..<count { e = .not(e) }
            return e
        }
        if isPunct("-") {
            var count = 0
            while eat("-") { count += 1 }
            if count > 4 { throw error("too many `-` in a row (at most 4)", at: tok) }
            var e: Expr
            if case .number(let digits) = current.kind, !isAccessor(peek(1)) {
                let numTok = advance()
                guard let n = UInt64(digits), n <= UInt64(Int64.max) + 1 else {
                    throw error("integer literal `\(digits)` is too large", at: numTok)
                }
                e = .literal(.long(n == UInt64(Int64.max) + 1 ? Int64.min : -Int64(n)))
                count -= 1
            } else {
                e = try parseMember()
            }
            for _ in 0..<count { e = .negate(e) }
            return e
        }
        return try parseMember()
    }

    /// What a primary was, before accessors are applied (mirrors `ExprOrSpecial`).
    private enum Primary {
        case expr(Expr)
        case variable(Variable)
        case name([String], Token)
        case string(String, Token)
    }

    private mutating func parseMember() throws(CedarError) -> Expr {
        var primary = try parsePrimary()
        // Function calls and accessors on names and variables have their own rules.
        switch primary {
        case .name(let parts, let tok):
            if isPunct("(") {
                primary = .expr(try parseFunctionCall(parts, at: tok))
            } else if isPunct(".") {
                throw error("`\(parts.joined(separator: "::"))` has no attributes or methods: it is not a variable",
                            at: tok)
            } else if isPunct("[") {
                throw error("`\(parts.joined(separator: "::"))` cannot be indexed: it is not a variable", at: tok)
            } else {
                throw error("unknown variable `\(parts.joined(separator: "::"))`: did you mean to quote it as a string?",
                            at: tok)
            }
        case .variable(let v):
            if isPunct("(") { throw error("`\(v.rawValue)` is a variable, not a function") }
        default:
            break
        }
        var e: Expr
        switch primary {
        case .expr(let x): e = x
        case .variable(let v): e = .variable(v)
        case .string(let raw, let tok): e = .literal(.string(try unescaped(raw, at: tok)))
        case .name: fatalError("unreachable: names are converted above")
        }
        while true {
            if isPunct(".") || isPunct("[") { try countOperator() }
            if eat(".") {
                let nameTok = current
                let name = try identifier("an attribute or method name")
                if isPunct("(") {
                    index += 1
                    let args = try parseArguments()
                    e = try methodCall(e, name, args, at: nameTok)
                } else {
                    if Lexer.reservedWords.contains(name) {
                        throw error("`\(name)` is a reserved word and cannot be an attribute name", at: nameTok)
                    }
                    e = .getAttr(e, CedarString(name))
                }
            } else if isPunct("[") {
                let open = advance()
                guard case .string(let raw) = current.kind, peek(1).kind == .punct("]") else {
                    throw error("only a string literal can be used in `[…]` attribute access", at: open)
                }
                let tok = advance()
                index += 1
                e = .getAttr(e, CedarString(try unescaped(raw, at: tok)))
            } else if isPunct("(") {
                throw error("this expression cannot be called like a function")
            } else {
                return e
            }
        }
    }

    private mutating func parseArguments() throws(CedarError) -> [Expr] {
        var args: [Expr] = []
        while !isPunct(")") {
            args.append(try parseExpr())
            if !eat(",") { break }
        }
        try expect(")")
        return args
    }

    private static let builtinMethods: Set<String> = ["contains", "containsAll", "containsAny", "isEmpty", "getTag", "hasTag"]

    private mutating func parseFunctionCall(_ parts: [String], at tok: Token) throws(CedarError) -> Expr {
        index += 1
        let args = try parseArguments()
        let name = parts.joined(separator: "::")
        if parts.count == 1 {
            if Parser.builtinMethods.contains(name) || (ExtensionFunction(rawValue: name).map { !$0.isConstructor } ?? false) {
                throw error("`\(name)` is a method, not a function: write `x.\(name)(…)`", at: tok)
            }
            if let f = ExtensionFunction(rawValue: name), f.isConstructor {
                return .call(f, args)
            }
        }
        throw error("`\(name)` is not a known function", at: tok)
    }

    private func methodCall(_ target: Expr, _ name: String, _ args: [Expr], at tok: Token) throws(CedarError) -> Expr {
        func one() throws(CedarError) -> Expr {
            guard args.count == 1 else {
                throw error("`\(name)` takes exactly 1 argument, found \(args.count)", at: tok)
            }
            return args[0]
        }
        switch name {
        case "contains": return .binary(.contains, target, try one())
        case "containsAll": return .binary(.containsAll, target, try one())
        case "containsAny": return .binary(.containsAny, target, try one())
        case "getTag": return .binary(.getTag, target, try one())
        case "hasTag": return .binary(.hasTag, target, try one())
        case "isEmpty":
            guard args.isEmpty else { throw error("`isEmpty` takes no arguments, found \(args.count)", at: tok) }
            return .isEmpty(target)
        default:
            guard let f = ExtensionFunction(rawValue: name) else {
                throw error("`\(name)` is not a known method", at: tok)
            }
            if f.isConstructor {
                throw error("`\(name)` is a function, not a method: write `\(name)(…)`", at: tok)
            }
            return .call(f, [target] + args)
        }
    }

    private mutating func parsePrimary() throws(CedarError) -> Primary {
        let tok = current
        switch tok.kind {
        case .number(let digits):
            index += 1
            guard let n = UInt64(digits) else { throw error("integer literal `\(digits)` is too large", at: tok) }
            guard n <= UInt64(Int64.max) else { throw error("integer literal `\(digits)` is too large", at: tok) }
            return .expr(.literal(.long(Int64(n))))
        case .string(let raw):
            index += 1
            return .string(raw, tok)
        case .slot(let s):
            throw error("template slot `\(s)` found: templates are not supported, only static policies")
        case .identifier(let word):
            if word == "true" || word == "false" {
                index += 1
                return .expr(.literal(.bool(word == "true")))
            }
            if let uid = try parseEntityRef() {
                return .expr(.literal(.entity(uid)))
            }
            var parts = [word]
            index += 1
            while isPunct("::"), case .identifier(let next) = peek(1).kind {
                index += 2
                parts.append(next)
            }
            if parts.count == 1, let v = Variable(rawValue: word) {
                return .variable(v)
            }
            if parts.count == 1, word == "if" || Lexer.reservedWords.contains(word) {
                throw error("unexpected keyword `\(word)`", at: tok)
            }
            return .name(parts, tok)
        case .punct("("):
            index += 1
            let e = try parseExpr()
            try expect(")")
            return .expr(e)
        case .punct("["):
            index += 1
            var items: [Expr] = []
            while !isPunct("]") {
                items.append(try parseExpr())
                if !eat(",") { break }
            }
            try expect("]")
            return .expr(.set(items))
        case .punct("{"):
            index += 1
            var fields: [(CedarString, Expr)] = []
            var seen = Set<CedarString>()
            while !isPunct("}") {
                let keyTok = current
                let key: String
                switch keyTok.kind {
                case .string(let raw):
                    index += 1
                    key = try unescaped(raw, at: keyTok)
                case .identifier(let word):
                    index += 1
                    if word != "if" && Lexer.reservedWords.contains(word) {
                        throw error("`\(word)` is a reserved word and cannot be a record key", at: keyTok)
                    }
                    key = word
                default:
                    throw unexpected("a record key")
                }
                try expect(":")
                let value = try parseExpr()
                guard seen.insert(CedarString(key)).inserted else {
                    throw error("duplicate key `\(key)` in record literal", at: keyTok)
                }
                fields.append((CedarString(key), value))
                if !eat(",") { break }
            }
            try expect("}")
            return .expr(.record(fields))
        default:
            throw unexpected("an expression")
        }
    }
}
