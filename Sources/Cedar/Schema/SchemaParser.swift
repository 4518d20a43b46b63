/// Parses `.cedarschema` text into a ``SchemaSyntax`` tree.
///
/// A recursive-descent reading of the reference grammar
/// (`cedar-policy-core/src/validator/cedar_schema/grammar.lalrpop`) that accepts the
/// same language, plus the structural checks the reference makes while converting the
/// tree (duplicate or empty `principal` / `resource` / `context` declarations).
struct SchemaParser {
    private typealias Token = SchemaLexer.Token
    private typealias Syntax = SchemaSyntax

    private let tokens: [Token]
    private var pos = 0

    private init(_ tokens: [Token]) {
        self.tokens = tokens
    }

    /// Parses a whole schema into its namespaces; declarations outside any namespace
    /// come back as namespaces without a path, one per declaration.
    static func parse(_ text: String) throws(CedarError) -> [SchemaSyntax.Namespace] {
        var parser = SchemaParser(try SchemaLexer.tokenize(text))
        return try parser.parseSchema()
    }

    // MARK: - Token helpers

    private var current: Token { tokens[pos] }

    private func peek(_ offset: Int = 1) -> Token {
        tokens[min(pos + offset, tokens.count - 1)]
    }

    private func position(_ t: Token) -> Syntax.Position {
        Syntax.Position(line: t.line, column: t.column)
    }

    private func error(_ message: String, at t: Token) -> CedarError {
        CedarError(.schema, "\(t.line):\(t.column): \(message)")
    }

    private func unexpected(_ expected: String) -> CedarError {
        let found = current.kind == .eof ? "end of input" : "token \(current.text)"
        return error("unexpected \(found), expected \(expected)", at: current)
    }

    private func isPunct(_ p: String, _ t: Token? = nil) -> Bool {
        (t ?? current).kind == .punct(p)
    }

    private func isWord(_ w: String, _ t: Token? = nil) -> Bool {
        (t ?? current).kind == .word(w)
    }

    private mutating func expectPunct(_ p: String) throws(CedarError) {
        guard isPunct(p) else { throw unexpected("`\(p)`") }
        pos += 1
    }

    /// Expects the `;` that ends a declaration; `options` are the clauses that could still come first.
    private mutating func expectSemicolon(orOneOf options: [String]) throws(CedarError) {
        guard !consumePunct(";") else { return }
        throw unexpected(options.isEmpty ? "`;`" : options.joined(separator: ", ") + " or `;`")
    }

    private mutating func consumePunct(_ p: String) -> Bool {
        guard isPunct(p) else { return false }
        pos += 1
        return true
    }

    private mutating func consumeWord(_ w: String) -> Bool {
        guard isWord(w) else { return false }
        pos += 1
        return true
    }

    // MARK: - Names

    /// `Ident`: a word that is not a reserved word.
    private mutating func parseIdent(_ what: String = "an identifier") throws(CedarError) -> Syntax.Name {
        guard case .word(let w) = current.kind else { throw unexpected(what) }
        // Schema identifiers share the policy language's reserved words.
        guard !Lexer.reservedWords.contains(w) else {
            throw error("`\(w)` is a reserved identifier", at: current)
        }
        defer { pos += 1 }
        return Syntax.Name(text: w, position: position(current))
    }

    /// `Name := Ident | STR`.
    private mutating func parseName(_ what: String) throws(CedarError) -> Syntax.Name {
        if case .string(let s) = current.kind {
            defer { pos += 1 }
            return Syntax.Name(text: s, position: position(current))
        }
        return try parseIdent(what)
    }

    /// `Path := Ident {'::' Ident}`.
    private mutating func parsePath(_ what: String = "a name") throws(CedarError) -> Syntax.Path {
        let start = position(current)
        var components = [try parseIdent(what).text]
        while consumePunct("::") {
            components.append(try parseIdent().text)
        }
        return Syntax.Path(components: components, position: start)
    }

    /// `STR`.
    private mutating func parseString(_ what: String) throws(CedarError) -> String {
        guard case .string(let s) = current.kind else { throw unexpected(what) }
        pos += 1
        return s
    }

    // MARK: - Annotations

    /// `{'@' AnyIdent ['(' STR ')']}`; annotations are checked for duplicates; their names are returned.
    @discardableResult
    private mutating func skipAnnotations() throws(CedarError) -> Set<String> {
        var seen = Set<String>()
        while isPunct("@") {
            pos += 1
            guard case .word(let key) = current.kind else { throw unexpected("an annotation name") }
            let keyToken = current
            pos += 1
            if consumePunct("(") {
                _ = try parseString("a string")
                try expectPunct(")")
            }
            guard seen.insert(key).inserted else {
                throw error("duplicate annotations: `\(key)`", at: keyToken)
            }
        }
        return seen
    }

    /// A declaration after its annotations: `@additionalAttributes` opens a common record type.
    private mutating func parseAnnotatedDeclaration(inNamespace: Bool) throws(CedarError) -> Syntax.Declaration {
        let annotations = try skipAnnotations()
        let declaration = try parseDeclaration(inNamespace: inNamespace)
        if annotations.contains("additionalAttributes"), case .type(var decl) = declaration {
            decl.open = true
            return .type(decl)
        }
        return declaration
    }

    // MARK: - Declarations

    private mutating func parseSchema() throws(CedarError) -> [Syntax.Namespace] {
        var namespaces: [Syntax.Namespace] = []
        while current.kind != .eof {
            let annotations = try skipAnnotations()
            if consumeWord("namespace") {
                let path = try parsePath("a namespace name")
                try expectPunct("{")
                var declarations: [Syntax.Declaration] = []
                while !isPunct("}") {
                    declarations.append(try parseAnnotatedDeclaration(inNamespace: true))
                }
                pos += 1
                namespaces.append(Syntax.Namespace(path: path, declarations: declarations))
            } else {
                var declaration = try parseDeclaration(inNamespace: false)
                if annotations.contains("additionalAttributes"), case .type(var decl) = declaration {
                    decl.open = true
                    declaration = .type(decl)
                }
                namespaces.append(Syntax.Namespace(path: nil, declarations: [declaration]))
            }
        }
        return namespaces
    }

    private mutating func parseDeclaration(inNamespace: Bool) throws(CedarError) -> Syntax.Declaration {
        if consumeWord("entity") { return .entity(try parseEntity()) }
        if consumeWord("action") { return .action(try parseAction()) }
        if consumeWord("type") {
            let name = try parseIdent("a common type name")
            try expectPunct("=")
            let type = try parseType()
            try expectPunct(";")
            return .type(Syntax.TypeDecl(name: name, type: type))
        }
        throw unexpected(inNamespace ? "`entity`, `action`, `type` or `}`" : "`namespace`, `entity`, `action` or `type`")
    }

    /// `entity Idents ['in' EntTypes] [['='] RecType] ['tags' Type] ';'` or `entity Idents enum [Eids] ';'`.
    private mutating func parseEntity() throws(CedarError) -> Syntax.EntityDecl {
        var names = [try parseIdent("an entity type name")]
        while consumePunct(",") {
            names.append(try parseIdent("an entity type name"))
        }
        if consumeWord("enum") {
            try expectPunct("[")
            var choices = [try parseString("a string (an entity id)")]
            while consumePunct(",") {
                choices.append(try parseString("a string (an entity id)"))
            }
            try expectPunct("]")
            try expectPunct(";")
            return Syntax.EntityDecl(names: names, kind: .enumeration(choices))
        }
        // What may still follow at each point, for the error when the `;` is missing.
        var expected = ["`,`", "`in`", "`enum`", "`=`", "`{`", "`tags`"]
        var parents: [Syntax.Path] = []
        if consumeWord("in") {
            parents = try parseEntityTypes()
            expected = ["`=`", "`{`", "`tags`"]
        }
        var attributes: [Syntax.AttributeDecl] = []
        if consumePunct("=") {
            guard isPunct("{") else { throw unexpected("`{`") }
        }
        if consumePunct("{") {
            attributes = try parseAttributeDecls()
            expected = ["`tags`"]
        }
        var tags: Syntax.TypeExpr?
        if consumeWord("tags") {
            tags = try parseType()
            expected.removeAll()
        }
        try expectSemicolon(orOneOf: expected)
        return Syntax.EntityDecl(names: names, kind: .standard(parents: parents, attributes: attributes, tags: tags))
    }

    /// `EntTypes := Path | '[' [Path {',' Path}] ']'` (no trailing comma).
    private mutating func parseEntityTypes() throws(CedarError) -> [Syntax.Path] {
        guard consumePunct("[") else { return [try parsePath("an entity type name")] }
        var paths: [Syntax.Path] = []
        if consumePunct("]") { return paths }
        paths.append(try parsePath("an entity type name"))
        while consumePunct(",") {
            paths.append(try parsePath("an entity type name"))
        }
        try expectPunct("]")
        return paths
    }

    /// `action Names ['in' QualNameOrQualNames] ['appliesTo' '{' AppDecls '}'] ['attributes' '{' '}'] ';'`.
    private mutating func parseAction() throws(CedarError) -> Syntax.ActionDecl {
        var names = [try parseName("an action name")]
        while consumePunct(",") {
            names.append(try parseName("an action name"))
        }
        var expected = ["`,`", "`in`", "`appliesTo`", "`attributes`"]
        var parents: [Syntax.ActionRef] = []
        if consumeWord("in") {
            expected = ["`appliesTo`", "`attributes`"]
            if consumePunct("[") {
                parents.append(try parseActionRef())
                while consumePunct(",") {
                    parents.append(try parseActionRef())
                }
                try expectPunct("]")
            } else {
                parents.append(try parseActionRef())
            }
        }
        var appliesTo: Syntax.AppliesTo?
        if consumeWord("appliesTo") {
            try expectPunct("{")
            appliesTo = try parseAppliesTo(action: names[0])
            try expectPunct("}")
            expected = ["`attributes`"]
        }
        // The reference accepts only an empty `attributes {}` block (action attributes are unsupported).
        if consumeWord("attributes") {
            try expectPunct("{")
            try expectPunct("}")
            expected.removeAll()
        }
        try expectSemicolon(orOneOf: expected)
        return Syntax.ActionDecl(names: names, parents: parents, appliesTo: appliesTo)
    }

    /// `QualName := Name | Path '::' STR`.
    private mutating func parseActionRef() throws(CedarError) -> Syntax.ActionRef {
        let start = current
        if case .string(let id) = current.kind {
            pos += 1
            return Syntax.ActionRef(type: nil, id: id, position: position(start))
        }
        var components = [try parseIdent("an action name").text]
        while isPunct("::") {
            if case .string(let id) = peek().kind {
                pos += 2
                let path = Syntax.Path(components: components, position: position(start))
                return Syntax.ActionRef(type: path, id: id, position: position(start))
            }
            pos += 1
            components.append(try parseIdent("an identifier or a string").text)
        }
        guard components.count == 1 else { throw unexpected("`::` followed by an action id string") }
        return Syntax.ActionRef(type: nil, id: components[0], position: position(start))
    }

    /// `AppDecls`: `principal: EntTypes`, `resource: EntTypes`, `context: Path | RecType`, comma separated.
    private mutating func parseAppliesTo(action: Syntax.Name) throws(CedarError) -> Syntax.AppliesTo {
        var principals: [Syntax.Path]?
        var resources: [Syntax.Path]?
        var context: Syntax.ContextDecl?
        let actionName = Lexer.quote(action.text)
        repeat {
            let keyToken = current
            if consumeWord("principal") || consumeWord("resource") {
                let isPrincipal = isWord("principal", keyToken)
                let key = isPrincipal ? "principal" : "resource"
                try expectPunct(":")
                let types = try parseEntityTypes()
                guard (isPrincipal ? principals : resources) == nil else {
                    throw error("duplicate `\(key)` declaration in action \(actionName)", at: keyToken)
                }
                guard !types.isEmpty else {
                    throw error("for action \(actionName), `\(key)` is `[]`, which is invalid", at: keyToken)
                }
                if isPrincipal { principals = types } else { resources = types }
            } else if consumeWord("context") {
                try expectPunct(":")
                let decl: Syntax.ContextDecl
                if consumePunct("{") {
                    decl = .record(try parseAttributeDecls())
                } else {
                    decl = .path(try parsePath("a common type name or a record type"))
                }
                guard context == nil else {
                    throw error("duplicate context declaration in action \(actionName)", at: keyToken)
                }
                context = decl
            } else {
                throw unexpected("`principal`, `resource` or `context`")
            }
        } while consumePunct(",") && !isPunct("}")
        guard let principals else {
            throw error("missing `principal` declaration for action \(actionName)", at: current)
        }
        guard let resources else {
            throw error("missing `resource` declaration for action \(actionName)", at: current)
        }
        return Syntax.AppliesTo(principals: principals, resources: resources, context: context)
    }

    // MARK: - Types

    /// `Type := Path | 'Set' '<' Type '>' | '{' [AttrDecls] '}'`.
    private mutating func parseType() throws(CedarError) -> Syntax.TypeExpr {
        if isWord("Set"), isPunct("<", peek()) {
            pos += 2
            let element = try parseType()
            try expectPunct(">")
            return .set(element)
        }
        if consumePunct("{") {
            return .record(try parseAttributeDecls())
        }
        return .path(try parsePath("a type"))
    }

    /// The attribute declarations of a record type, after its `{`, through its `}`.
    private mutating func parseAttributeDecls() throws(CedarError) -> [Syntax.AttributeDecl] {
        var attributes: [Syntax.AttributeDecl] = []
        if consumePunct("}") { return attributes }
        repeat {
            try skipAnnotations()
            let name = try parseName("an attribute name")
            let optional = consumePunct("?")
            try expectPunct(":")
            attributes.append(Syntax.AttributeDecl(name: name, required: !optional, type: try parseType()))
        } while consumePunct(",") && !isPunct("}")
        try expectPunct("}")
        return attributes
    }
}
