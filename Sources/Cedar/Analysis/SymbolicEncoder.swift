/// Encodes validated Cedar policies as SMT-LIB formulas (for a solver such as z3), one request type at a time.
///
/// The request type is fixed (principal type, action, resource type, context type, from the schema); everything else
/// is symbolic: the ids of the principal and resource, every attribute and tag a policy reads, whether optional ones
/// are present, and whether one entity is in another. Cedar values map to SMT sorts: booleans, `Long` and the
/// extension types that are numbers (`datetime` and `duration` in milliseconds, `decimal` in ten-thousandths) to
/// `Int`, strings and entity ids to `String`, sets to `(Array T Bool)`.
///
/// The encoding over-approximates what it cannot state exactly, and says so (``approximate``): a membership
/// (`in`) between two entities is a free boolean (any hierarchy the schema allows), as is an IP range test or a
/// date's day; two paths to one entity (`principal` and `resource.agent`) have independent attributes; arithmetic
/// does not overflow. A formula that is unsatisfiable under the over-approximation is unsatisfiable for Cedar; a
/// model is a candidate example to check. Constructs it cannot encode at all (records compared whole, attributes of
/// undeclared type) raise ``Unsupported``.
struct SymbolicEncoder {
    struct Unsupported: Error {
        let message: String
    }

    /// A symbolic value: an SMT term of a Cedar type, an entity (its id term and the path its attributes hang from),
    /// or a record (a path, or the members of a literal).
    indirect enum Sym {
        case term(String, CedarType)
        case entity(EntityType, id: String, path: String)
        case record(path: String, attributes: [CedarString: CedarType.Qualified])
        case literalRecord([CedarString: Sym])
    }

    let schema: Schema
    let env: Typechecker.Environment
    /// Declared constants: name → sort.
    private(set) var declarations: [String: String] = [:]
    /// Declaration order, for stable output.
    private(set) var order: [String] = []
    /// Whether an over-approximation was used.
    private(set) var approximate = false
    /// Whether the policies do arithmetic or call functions that can fail at run time.
    private(set) var mayError = false

    init(schema: Schema, env: Typechecker.Environment) {
        self.schema = schema
        self.env = env
    }

    // MARK: - Names and sorts

    static func symbol(_ name: String) -> String {
        "|" + name.replacing("|", with: "_").replacing("\\", with: "_") + "|"
    }

    mutating func constant(_ name: String, _ sort: String) -> String {
        let s = Self.symbol(name)
        if declarations[s] == nil {
            declarations[s] = sort
            order.append(s)
        }
        return s
    }

    /// A free boolean standing for what could not be encoded: the answer becomes approximate.
    mutating func free(_ name: String) -> String {
        approximate = true
        return constant(name, "Bool")
    }

    func sort(_ t: CedarType) throws(Unsupported) -> String {
        switch t {
        case .bool: return "Bool"
        case .long: return "Int"
        case .string, .entity: return "String"
        case .ext(let name) where name == "datetime" || name == "duration" || name == "decimal": return "Int"
        case .set(let element): return "(Array \(try sort(element)) Bool)"
        default: throw Unsupported(message: "no SMT sort for \(t)")
        }
    }

    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            if u == "\"" {
                out += "\"\""
            } else if u.value >= 0x20 && u.value < 0x7F && u != "\\" {
                out.unicodeScalars.append(u)
            } else {
                out += "\\u{" + String(u.value, radix: 16) + "}"
            }
        }
        return out + "\""
    }

    // MARK: - Variables

    /// The value at `path` (an attribute or tag) of a declared type.
    mutating func variable(_ path: String, _ type: CedarType) throws(Unsupported) -> Sym {
        switch type {
        case .entity(let t): return .entity(t, id: constant(path + ".id", "String"), path: path)
        case .record(let attributes): return .record(path: path, attributes: attributes)
        case .openRecord: throw Unsupported(message: "`\(path)` is a record with undeclared attributes")
        case .unknown: throw Unsupported(message: "`\(path)` has no declared type")
        default: return .term(constant(path, try sort(type)), type)
        }
    }

    func attributes(of type: EntityType) -> [CedarString: CedarType.Qualified]? {
        schema.entityTypes[type].map { CedarType.record($0.attributes).recordAttributes }
    }

    // MARK: - Expressions

    mutating func encode(_ e: Expr) throws(Unsupported) -> Sym {
        switch e {
        case .literal(let v): return try literal(v)
        case .variable(let v):
            switch v {
            case .principal: return .entity(env.principal, id: constant("principal.id", "String"), path: "principal")
            case .resource: return .entity(env.resource, id: constant("resource.id", "String"), path: "resource")
            case .action: return try literal(.entity(env.action))
            case .context:
                guard case .record(let attributes) = env.context else {
                    throw Unsupported(message: "a context with undeclared attributes")
                }
                return .record(path: "context", attributes: attributes)
            }
        case .ifThenElse(let c, let a, let b):
            let cond = try boolean(c)
            let (x, y) = (try encode(a), try encode(b))
            guard case .term(let tx, let type) = x, case .term(let ty, _) = y else {
                throw Unsupported(message: "an `if` whose branches are entities or records")
            }
            return .term("(ite \(cond) \(tx) \(ty))", type)
        case .and(let a, let b):
            // As Cedar evaluates (and the typechecker types): what follows a false operand is not looked at.
            let x = try boolean(a)
            if x == "false" { return .term("false", .bool(.ff)) }
            return .term("(and \(x) \(try boolean(b)))", .bool(.anyBool))
        case .or(let a, let b):
            let x = try boolean(a)
            if x == "true" { return .term("true", .bool(.tt)) }
            return .term("(or \(x) \(try boolean(b)))", .bool(.anyBool))
        case .not(let a): return .term("(not \(try boolean(a)))", .bool(.anyBool))
        case .negate(let a):
            mayError = true
            return .term("(- \(try int(a)))", .long)
        case .isEmpty(let a):
            guard case .term(let s, .set(let element)) = try encode(a) else { throw Unsupported(message: "isEmpty of a non-set") }
            return .term("(= \(s) \(try emptySet(element)))", .bool(.anyBool))
        case .like(let a, let pattern):
            return .term("(str.in_re \(try stringTerm(a)) \(Self.regex(pattern)))", .bool(.anyBool))
        case .isType(let a, let type):
            switch try encode(a) {
            case .entity(let t, _, _): return .term(t == type ? "true" : "false", .bool(.anyBool))
            default: return .term("false", .bool(.anyBool))
            }
        case .binary(let op, let a, let b): return try binary(op, a, b)
        case .getAttr(let a, let attribute): return try getAttr(try encode(a), attribute)
        case .hasAttr(let a, let attribute): return try hasAttr(try encode(a), attribute)
        case .set(let items):
            var element: CedarType?
            var terms: [String] = []
            for item in items {
                switch try encode(item) {
                case .term(let t, let type):
                    element = element ?? type
                    terms.append(t)
                case .entity(let type, let id, _):
                    element = element ?? .entity(type)
                    terms.append(id)
                default: throw Unsupported(message: "a set of records")
                }
            }
            guard let element else { throw Unsupported(message: "an empty set") }
            let set = terms.reduce(try emptySet(element)) { "(store \($0) \($1) true)" }
            return .term(set, .set(element))
        case .record(let members):
            var out: [CedarString: Sym] = [:]
            for (k, v) in members { out[k] = try encode(v) }
            return .literalRecord(out)
        case .call(let f, let args): return try call(f, args)
        }
    }

    mutating func literal(_ v: Value) throws(Unsupported) -> Sym {
        switch v {
        case .bool(let b): return .term(b ? "true" : "false", .bool(b ? .tt : .ff))
        case .long(let n): return .term(n < 0 ? "(- \(n.magnitude))" : String(n), .long)
        case .string(let s): return .term(Self.string(s.string), .string)
        case .entity(let uid): return .entity(uid.type, id: Self.string(uid.id.string), path: "\(uid.type)::\(uid.id.string)")
        case .ext(let x):
            switch x {
            case .datetime(let d): return .term(Self.int(d.milliseconds), .ext("datetime"))
            case .duration(let d): return .term(Self.int(d.milliseconds), .ext("duration"))
            case .decimal(let d): return .term(Self.int(d.rawValue), .ext("decimal"))
            case .ipaddr: throw Unsupported(message: "an IP address value")
            }
        case .set, .record: throw Unsupported(message: "a set or record value")
        }
    }

    static func int(_ n: Int64) -> String { n < 0 ? "(- \(n.magnitude))" : String(n) }

    mutating func boolean(_ e: Expr) throws(Unsupported) -> String {
        guard case .term(let t, .bool) = try encode(e) else { throw Unsupported(message: "a non-boolean condition") }
        return t
    }

    mutating func int(_ e: Expr) throws(Unsupported) -> String {
        guard case .term(let t, let type) = try encode(e), try sort(type) == "Int" else { throw Unsupported(message: "a non-number") }
        return t
    }

    mutating func stringTerm(_ e: Expr) throws(Unsupported) -> String {
        switch try encode(e) {
        case .term(let t, .string): return t
        default: throw Unsupported(message: "a non-string")
        }
    }

    func emptySet(_ element: CedarType) throws(Unsupported) -> String {
        "((as const (Array \(try sort(element)) Bool)) false)"
    }

    static func regex(_ pattern: Pattern) -> String {
        var parts: [String] = []
        var literal = ""
        for element in pattern.elements {
            switch element {
            case .scalar(let s): literal.unicodeScalars.append(s)
            case .wildcard:
                if !literal.isEmpty { parts.append("(str.to_re \(string(literal)))") }
                literal = ""
                parts.append("(re.* re.allchar)")
            }
        }
        if !literal.isEmpty { parts.append("(str.to_re \(string(literal)))") }
        if parts.isEmpty { return "(str.to_re \"\")" }
        return parts.count == 1 ? parts[0] : "(re.++ " + parts.joined(separator: " ") + ")"
    }

    /// The SMT term of a value used as a set element or compared: entities by id.
    func scalar(_ s: Sym) throws(Unsupported) -> (String, CedarType) {
        switch s {
        case .term(let t, let type): return (t, type)
        case .entity(let type, let id, _): return (id, .entity(type))
        default: throw Unsupported(message: "a record where a value is needed")
        }
    }

    mutating func binary(_ op: BinaryOp, _ a: Expr, _ b: Expr) throws(Unsupported) -> Sym {
        let bool = CedarType.bool(.anyBool)
        switch op {
        case .equal, .notEqual:
            let (x, y) = (try encode(a), try encode(b))
            let eq: String
            switch (x, y) {
            case (.entity(let t1, let i1, _), .entity(let t2, let i2, _)):
                if t1 != t2 { eq = "false" } else if i1.hasPrefix("\""), i2.hasPrefix("\"") { eq = i1 == i2 ? "true" : "false" } else { eq = "(= \(i1) \(i2))" }
            case (.term(let t1, _), .term(let t2, _)):
                if case .literal = a, case .literal = b { eq = t1 == t2 ? "true" : "false" } else { eq = "(= \(t1) \(t2))" }
            default: throw Unsupported(message: "records compared whole")
            }
            return .term(op == .equal ? eq : "(not \(eq))", bool)
        case .less: return .term("(< \(try int(a)) \(try int(b)))", bool)
        case .lessEqual: return .term("(<= \(try int(a)) \(try int(b)))", bool)
        case .greater: return .term("(> \(try int(a)) \(try int(b)))", bool)
        case .greaterEqual: return .term("(>= \(try int(a)) \(try int(b)))", bool)
        case .add, .subtract, .multiply:
            mayError = true
            let symbol = op == .add ? "+" : op == .subtract ? "-" : "*"
            return .term("(\(symbol) \(try int(a)) \(try int(b)))", .long)
        case .memberOf:
            let x = try encode(a)
            guard case .entity(let t1, let i1, let p1) = x else { throw Unsupported(message: "`in` on a non-entity") }
            /// `literal`: the right side's uid when it is written in the policy.
            func member(_ t2: EntityType, _ i2: String, _ p2: String, literal: Expr) -> String {
                // Actions: the schema's hierarchy is known.
                if case .literal(.entity(let u1)) = a, schema.actions[u1] != nil, case .literal(.entity(let u2)) = literal {
                    return u1 == u2 || (schema.actions[u1]?.ancestors.contains(u2) ?? false) ? "true" : "false"
                }
                let descends = t1 == t2 || (schema.entityTypes[t1]?.allowedParents.contains(t2) ?? false)
                guard descends else { return "false" }
                approximate = true
                let free = constant("in(\(p1),\(p2))", "Bool")
                return t1 == t2 ? "(or (= \(i1) \(i2)) \(free))" : free
            }
            switch try encode(b) {
            case .entity(let t2, let i2, let p2): return .term(member(t2, i2, p2, literal: b), bool)
            case .term(_, .set(.entity(let t2))):
                guard case .set(let items) = b else { throw Unsupported(message: "`in` a set that is not a literal") }
                var ors: [String] = []
                for item in items {
                    guard case .entity(_, let i2, let p2) = try encode(item) else { throw Unsupported(message: "`in` a set of non-entities") }
                    ors.append(member(t2, i2, p2, literal: item))
                }
                return .term(ors.isEmpty ? "false" : "(or " + ors.joined(separator: " ") + ")", bool)
            default: throw Unsupported(message: "`in` a non-entity")
            }
        case .contains:
            guard case .term(let s, .set) = try encode(a) else { throw Unsupported(message: "contains on a non-set") }
            let (x, _) = try scalar(try encode(b))
            return .term("(select \(s) \(x))", bool)
        case .containsAll, .containsAny:
            guard case .term(let s1, .set(let element)) = try encode(a), case .term(let s2, .set) = try encode(b) else {
                throw Unsupported(message: "set operations on non-sets")
            }
            if op == .containsAll { return .term("(subset \(s2) \(s1))", bool) }
            return .term("(not (= (intersection \(s1) \(s2)) \(try emptySet(element))))", bool)
        case .hasTag, .getTag:
            guard case .entity(let type, _, let path) = try encode(a) else { throw Unsupported(message: "a tag of a non-entity") }
            let key: String
            if case .literal(.string(let k)) = b { key = k.string } else {
                approximate = true
                key = "expr:" + Typechecker.key(b)
            }
            if op == .hasTag { return .term(constant("\(path).hasTag(\(key))", "Bool"), bool) }
            guard let tagType = schema.entityTypes[type]?.tags else { throw Unsupported(message: "tags of `\(type)`") }
            return try variable("\(path).getTag(\(key))", CedarType(tagType))
        }
    }

    mutating func getAttr(_ x: Sym, _ attribute: CedarString) throws(Unsupported) -> Sym {
        switch x {
        case .literalRecord(let members):
            guard let m = members[attribute] else { throw Unsupported(message: "a missing attribute") }
            return m
        case .record(let path, let attributes):
            guard let q = attributes[attribute] else { throw Unsupported(message: "undeclared attribute `\(attribute.string)` of `\(path)`") }
            return try variable(path + "." + attribute.string, q.type)
        case .entity(let type, _, let path):
            guard let q = attributes(of: type)?[attribute] else { throw Unsupported(message: "attribute `\(attribute.string)` of `\(type)`") }
            return try variable(path + "." + attribute.string, q.type)
        case .term: throw Unsupported(message: "an attribute of a non-record")
        }
    }

    mutating func hasAttr(_ x: Sym, _ attribute: CedarString) throws(Unsupported) -> Sym {
        let bool = CedarType.bool(.anyBool)
        let attributes: [CedarString: CedarType.Qualified]?
        let path: String
        switch x {
        case .literalRecord(let members): return .term(members[attribute] == nil ? "false" : "true", bool)
        case .record(let p, let a):
            attributes = a
            path = p
        case .entity(let type, _, let p):
            attributes = self.attributes(of: type)
            path = p
        case .term: throw Unsupported(message: "`has` on a non-record")
        }
        guard let q = attributes?[attribute] else { return .term("false", bool) }
        return .term(q.required ? "true" : constant(path + "." + attribute.string + "?", "Bool"), bool)
    }

    mutating func call(_ f: ExtensionFunction, _ args: [Expr]) throws(Unsupported) -> Sym {
        if f.isConstructor {
            guard args.count == 1, case .literal(.string(let s)) = args[0],
                  let value = try? Evaluator.callExtension(f, [.string(s)]) else {
                throw Unsupported(message: "`\(f.rawValue)` of a non-literal")
            }
            return try literal(value)
        }
        let bool = CedarType.bool(.anyBool)
        switch f {
        case .lessThan, .lessThanOrEqual, .greaterThan, .greaterThanOrEqual:
            let symbol = [ExtensionFunction.lessThan: "<", .lessThanOrEqual: "<=", .greaterThan: ">", .greaterThanOrEqual: ">="][f]!
            return .term("(\(symbol) \(try int(args[0])) \(try int(args[1])))", bool)
        case .offset:
            mayError = true
            return .term("(+ \(try int(args[0])) \(try int(args[1])))", .ext("datetime"))
        case .durationSince:
            mayError = true
            return .term("(- \(try int(args[0])) \(try int(args[1])))", .ext("duration"))
        case .toMilliseconds:
            return .term(try int(args[0]), .long)
        default:
            // An IP test, a date's day or time, a duration in larger units: free, the same for the same expression.
            approximate = true
            let result = SchemaType.signature(of: f).result
            return try variable("fn:" + Typechecker.key(.call(f, args)), CedarType(result))
        }
    }

    /// The declarations, for the query's preamble.
    var preamble: String {
        order.map { "(declare-const \($0) \(declarations[$0]!))" }.joined(separator: "\n")
    }
}
