/// One problem the validator found in a policy.
public struct ValidationIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// An entity type the schema does not declare.
        case unrecognizedEntityType
        /// An action the schema does not declare.
        case unrecognizedActionID
        /// An entity of an enumerated type whose id is not one of its choices.
        case invalidEnumEntity
        /// No action in the policy's scope applies to the principals and resources its scope allows.
        case invalidActionApplication
        /// An expression that is not well typed (strict mode) for some request the scope allows.
        case typeError
        /// A warning: the policy is well typed but false for every request the schema allows.
        case impossiblePolicy
    }

    public let policyID: String
    public let kind: Kind
    public let message: String

    public var description: String { "policy `\(policyID)`: \(message)" }
}

/// What strict validation found: errors make a policy set invalid, warnings do not.
public struct ValidationResult: Sendable, Equatable {
    public var errors: [ValidationIssue] = []
    public var warnings: [ValidationIssue] = []

    public var passed: Bool { errors.isEmpty }
}

extension Schema {
    /// Validates policies against this schema as Cedar's strict validator does (the reference's
    /// `ValidationMode::Strict`, specified by the Lean typechecker): every entity type and action a policy names is
    /// declared, some action in its scope applies to the principals and resources its scope allows, and for each
    /// such request type (principal type, action, resource type, context) the policy is a well-typed boolean
    /// expression: attributes exist, optional ones are read only after `has`, operands have the types their
    /// operators take, sets and `if` branches are of one type, and extension constructors get valid literals.
    /// A policy that is well typed but false for every request is reported as a warning, as the reference does.
    public func validate(policies: PolicySet) -> ValidationResult {
        var result = ValidationResult()
        for policy in policies.policies {
            let (errors, warnings) = Typechecker(schema: self).check(policy)
            result.errors += errors
            result.warnings += warnings
        }
        return result
    }

    /// The request types the schema allows: one per action and pair of its principal and resource types.
    var requestEnvironments: [Typechecker.Environment] {
        actions.values.sorted { $0.uid < $1.uid }.flatMap { action in
            action.principals.flatMap { p in
                action.resources.map { r in
                    Typechecker.Environment(principal: p, action: action.uid, resource: r, context: CedarType(action.context))
                }
            }
        }
    }

    /// Whether `uid` names an entity the schema allows: a declared type (and a declared choice of an enumerated
    /// one), or a declared action.
    func isValidEntityUID(_ uid: EntityUID) -> Bool {
        if let type = entityTypes[uid.type] { return type.accepts(uid) }
        return actions[uid] != nil
    }

    /// Whether some declared action has this type.
    func isActionType(_ type: EntityType) -> Bool {
        actions.keys.contains { $0.type == type }
    }
}

/// The strict typechecker, after the Lean specification (`Cedar/Validation/Typechecker.lean`), plus the reference
/// validator's checks of names that apply to a whole policy whatever is reachable.
struct Typechecker {
    struct Environment {
        let principal: EntityType
        let action: EntityUID
        let resource: EntityType
        let context: CedarType
    }

    struct TypeError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// What is known to exist: an attribute or a tag of an expression (by its canonical rendering) that a `has`
    /// or `hasTag` on the path to here proved.
    struct Capability: Hashable {
        let expression: String
        let attribute: String?
        let tag: String?
    }

    typealias Capabilities = Set<Capability>

    let schema: Schema

    // MARK: - A policy

    func check(_ policy: Policy) -> (errors: [ValidationIssue], warnings: [ValidationIssue]) {
        func issue(_ kind: ValidationIssue.Kind, _ message: String) -> ValidationIssue {
            ValidationIssue(policyID: policy.id, kind: kind, message: message)
        }
        var errors = names(in: policy).map { issue($0.kind, $0.message) }
        guard errors.isEmpty else { return (errors, []) }
        let whole = policy.expression
        // The request types the scope excludes are not checked, as in the reference.
        let applicable = environments(for: policy)
        var possible = false
        for env in applicable {
            do {
                let (type, _) = try typeOf(substitute(whole, env.action), [], env)
                guard type.isBool else {
                    errors.append(issue(.typeError, "the policy's type is \(type), not a boolean"))
                    break
                }
                if type != .bool(.ff) { possible = true }
            } catch {
                errors.append(issue(.typeError, "\(error.message) (for principal `\(env.principal)`, action `\(env.action)`, "
                    + "resource `\(env.resource)`)"))
                break
            }
        }
        if applicable.isEmpty {
            return ([issue(.invalidActionApplication, "no action in the policy's scope applies to the principals and "
                + "resources its scope allows")], [])
        }
        if !errors.isEmpty { return (errors, []) }
        let warnings = possible ? [] : [issue(.impossiblePolicy, "the policy is false for every request the schema allows")]
        return ([], warnings)
    }

    /// The request types a policy's scope does not exclude.
    func environments(for policy: Policy) -> [Environment] {
        let scope = Expr.and(policy.principal.expression(.principal),
                             .and(policy.action.expression, policy.resource.expression(.resource)))
        return schema.requestEnvironments.filter { env in
            guard let (t, _) = try? typeOf(substitute(scope, env.action), [], env) else { return false }
            return t != .bool(.ff)
        }
    }

    /// Entity types, actions and enumerated ids the policy names anywhere, that the schema does not declare.
    func names(in policy: Policy) -> [(kind: ValidationIssue.Kind, message: String)] {
        var out: [(ValidationIssue.Kind, String)] = []
        var reported = Set<String>()
        func note(_ kind: ValidationIssue.Kind, _ message: String) {
            if reported.insert(message).inserted { out.append((kind, message)) }
        }
        func type(_ t: EntityType) {
            if schema.entityTypes[t] == nil && !schema.isActionType(t) {
                note(.unrecognizedEntityType, "unrecognized entity type `\(t)`")
            }
        }
        func uid(_ u: EntityUID) {
            if u.type.isActionType && schema.entityTypes[u.type] == nil {
                if schema.actions[u] == nil { note(.unrecognizedActionID, "unrecognized action `\(u)`") }
            } else if let declared = schema.entityTypes[u.type] {
                if !declared.accepts(u) { note(.invalidEnumEntity, schema.invalidChoice(u, declared)) }
            } else {
                type(u.type)
            }
        }
        func scope(_ s: ScopeConstraint) {
            switch s {
            case .any: break
            case .equal(let u), .memberOf(let u): uid(u)
            case .isType(let t): type(t)
            case .isTypeMemberOf(let t, let u):
                type(t)
                uid(u)
            }
        }
        func walk(_ e: Expr) {
            switch e {
            case .literal(let v): value(v)
            case .variable: break
            case .ifThenElse(let a, let b, let c): [a, b, c].forEach(walk)
            case .and(let a, let b), .or(let a, let b), .binary(_, let a, let b):
                walk(a)
                walk(b)
            case .not(let a), .negate(let a), .isEmpty(let a), .like(let a, _), .getAttr(let a, _), .hasAttr(let a, _):
                walk(a)
            case .isType(let a, let t):
                walk(a)
                type(t)
            case .set(let items): items.forEach(walk)
            case .record(let members): members.forEach { walk($0.1) }
            case .call(_, let args): args.forEach(walk)
            }
        }
        func value(_ v: Value) {
            switch v {
            case .entity(let u): uid(u)
            case .set(let s): s.forEach(value)
            case .record(let r): r.values.forEach(value)
            default: break
            }
        }
        scope(policy.principal)
        switch policy.action {
        case .any: break
        case .equal(let u), .memberOf(let u): uid(u)
        case .memberOfAny(let us): us.forEach(uid)
        }
        scope(policy.resource)
        policy.conditions.forEach { walk($0.body) }
        return out
    }

    /// `e` with the `action` variable replaced by the request's action (Lean `substituteAction`).
    func substitute(_ e: Expr, _ action: EntityUID) -> Expr {
        func s(_ e: Expr) -> Expr { substitute(e, action) }
        switch e {
        case .variable(.action): return .literal(.entity(action))
        case .literal, .variable: return e
        case .ifThenElse(let a, let b, let c): return .ifThenElse(s(a), s(b), s(c))
        case .and(let a, let b): return .and(s(a), s(b))
        case .or(let a, let b): return .or(s(a), s(b))
        case .not(let a): return .not(s(a))
        case .negate(let a): return .negate(s(a))
        case .isEmpty(let a): return .isEmpty(s(a))
        case .like(let a, let p): return .like(s(a), p)
        case .isType(let a, let t): return .isType(s(a), t)
        case .binary(let op, let a, let b): return .binary(op, s(a), s(b))
        case .getAttr(let a, let k): return .getAttr(s(a), k)
        case .hasAttr(let a, let k): return .hasAttr(s(a), k)
        case .set(let items): return .set(items.map(s))
        case .record(let members): return .record(members.map { ($0.0, s($0.1)) })
        case .call(let f, let args): return .call(f, args.map(s))
        }
    }

    // MARK: - Expressions

    func typeOf(_ e: Expr, _ c: Capabilities, _ env: Environment) throws(TypeError) -> (CedarType, Capabilities) {
        switch e {
        case .literal(let v):
            return (try typeOfValue(v), [])
        case .variable(let v):
            switch v {
            case .principal: return (.entity(env.principal), [])
            case .action: return (.entity(env.action.type), [])
            case .resource: return (.entity(env.resource), [])
            case .context: return (env.context, [])
            }
        case .ifThenElse(let x1, let x2, let x3):
            let (t1, c1) = try typeOf(x1, c, env)
            guard let b1 = t1.boolType else { throw unexpected(t1, "a boolean", in: "an `if` condition") }
            switch b1 {
            case .tt:
                let (t2, c2) = try typeOf(x2, c.union(c1), env)
                return (t2, c1.union(c2))
            case .ff:
                return try typeOf(x3, c, env)
            case .anyBool:
                let (t2, c2) = try typeOf(x2, c.union(c1), env)
                let (t3, c3) = try typeOf(x3, c, env)
                guard let t = CedarType.lub(t2, t3) else {
                    throw TypeError("the branches of an `if` have incompatible types \(t2) and \(t3)")
                }
                return (t, c1.union(c2).intersection(c3))
            }
        case .and(let x1, let x2):
            let (t1, c1) = try typeOf(x1, c, env)
            guard let b1 = t1.boolType else { throw unexpected(t1, "a boolean", in: "`&&`") }
            if b1 == .ff { return (.bool(.ff), []) }
            let (t2, c2) = try typeOf(x2, c.union(c1), env)
            guard let b2 = t2.boolType else { throw unexpected(t2, "a boolean", in: "`&&`") }
            switch b2 {
            case .ff: return (.bool(.ff), [])
            case .tt: return (.bool(b1), c1.union(c2))
            case .anyBool: return (.bool(.anyBool), c1.union(c2))
            }
        case .or(let x1, let x2):
            let (t1, c1) = try typeOf(x1, c, env)
            guard let b1 = t1.boolType else { throw unexpected(t1, "a boolean", in: "`||`") }
            if b1 == .tt { return (.bool(.tt), c1) }
            let (t2, c2) = try typeOf(x2, c, env)
            guard let b2 = t2.boolType else { throw unexpected(t2, "a boolean", in: "`||`") }
            if b1 == .ff { return (.bool(b2), c2) }
            switch b2 {
            case .tt: return (.bool(.tt), c2)
            case .ff: return (.bool(.anyBool), c1)
            case .anyBool: return (.bool(.anyBool), c1.intersection(c2))
            }
        case .not(let x):
            let (t, _) = try typeOf(x, c, env)
            guard let b = t.boolType else { throw unexpected(t, "a boolean", in: "`!`") }
            return (.bool(b == .tt ? .ff : b == .ff ? .tt : .anyBool), [])
        case .negate(let x):
            let (t, _) = try typeOf(x, c, env)
            guard t == .long || t == .unknown else { throw unexpected(t, "Long", in: "`-`") }
            return (.long, [])
        case .isEmpty(let x):
            let (t, _) = try typeOf(x, c, env)
            if case .set = t {} else if t != .unknown { throw unexpected(t, "a set", in: "`isEmpty`") }
            return (.bool(.anyBool), [])
        case .like(let x, _):
            let (t, _) = try typeOf(x, c, env)
            guard t == .string || t == .unknown else { throw unexpected(t, "String", in: "`like`") }
            return (.bool(.anyBool), [])
        case .isType(let x, let type):
            let (t, _) = try typeOf(x, c, env)
            if t == .unknown { return (.bool(.anyBool), []) }
            guard case .entity(let actual) = t else { throw unexpected(t, "an entity", in: "`is`") }
            return (.bool(actual == type ? .tt : .ff), [])
        case .binary(let op, let x1, let x2):
            return try typeOfBinary(op, x1, x2, c, env)
        case .hasAttr(let x, let attribute):
            let (t, _) = try typeOf(x, c, env)
            let capability = Capability(expression: Self.key(x), attribute: attribute.string, tag: nil)
            func inRecord(_ attributes: [CedarString: CedarType.Qualified], knownToExist: Bool) -> (CedarType, Capabilities) {
                guard let q = attributes[attribute] else { return (.bool(.ff), []) }
                if c.contains(capability) || (q.required && knownToExist) { return (.bool(.tt), []) }
                return (.bool(.anyBool), [capability])
            }
            switch t {
            case .record(let attributes): return inRecord(attributes, knownToExist: true)
            case .openRecord(let attributes) where attributes[attribute] != nil: return inRecord(attributes, knownToExist: true)
            case .openRecord, .unknown:
                return c.contains(capability) ? (.bool(.tt), []) : (.bool(.anyBool), [capability])
            case .entity(let type):
                if let declared = schema.entityTypes[type] {
                    return inRecord(CedarType.record(declared.attributes).recordAttributes, knownToExist: false)
                }
                if schema.isActionType(type) { return (.bool(.ff), []) }
                throw TypeError("unknown entity type `\(type)`")
            default:
                throw unexpected(t, "an entity or a record", in: "`has`")
            }
        case .getAttr(let x, let attribute):
            let (t, _) = try typeOf(x, c, env)
            let capability = Capability(expression: Self.key(x), attribute: attribute.string, tag: nil)
            func inRecord(_ attributes: [CedarString: CedarType.Qualified], of what: String) throws(TypeError) -> CedarType {
                guard let q = attributes[attribute] else {
                    throw TypeError("attribute `\(attribute.string)` is not declared on \(what)")
                }
                guard q.required || c.contains(capability) else {
                    throw TypeError("unable to guarantee safety of access to optional attribute `\(attribute.string)` on \(what)")
                }
                return q.type
            }
            switch t {
            case .record(let attributes): return (try inRecord(attributes, of: "a record"), [])
            case .openRecord(let attributes) where attributes[attribute] != nil: return (try inRecord(attributes, of: "a record"), [])
            case .openRecord, .unknown:
                guard c.contains(capability) else {
                    throw TypeError("unable to guarantee safety of access to undeclared attribute `\(attribute.string)` "
                        + "(test it with `has` first)")
                }
                return (.unknown, [])
            case .entity(let type):
                guard let declared = schema.entityTypes[type] else {
                    if schema.isActionType(type) { throw TypeError("actions have no attributes (`\(attribute.string)` on `\(type)`)") }
                    throw TypeError("unknown entity type `\(type)`")
                }
                return (try inRecord(CedarType.record(declared.attributes).recordAttributes, of: "entity type `\(type)`"), [])
            default:
                throw unexpected(t, "an entity or a record", in: "attribute access `.\(attribute.string)`")
            }
        case .set(let items):
            guard let first = items.first else { throw TypeError("empty set literals are not allowed in strict validation") }
            var (element, _) = try typeOf(first, c, env)
            for item in items.dropFirst() {
                let (t, _) = try typeOf(item, c, env)
                guard let joined = CedarType.lub(element, t) else {
                    throw TypeError("the elements of a set have incompatible types \(element) and \(t)")
                }
                element = joined
            }
            return (.set(element), [])
        case .record(let members):
            var attributes: [CedarString: CedarType.Qualified] = [:]
            for (key, value) in members {
                let (t, _) = try typeOf(value, c, env)
                attributes[key] = CedarType.Qualified(type: t, required: true)
            }
            return (.record(attributes), [])
        case .call(let f, let args):
            return (try typeOfCall(f, args, c, env), [])
        }
    }

    func typeOfValue(_ v: Value) throws(TypeError) -> CedarType {
        switch v {
        case .bool(let b): return .bool(b ? .tt : .ff)
        case .long: return .long
        case .string: return .string
        case .entity(let uid):
            guard schema.isValidEntityUID(uid) else { throw TypeError("unknown entity `\(uid)`") }
            return .entity(uid.type)
        case .ext(let x): return .ext(x.typeName)
        case .set(let items):
            guard let first = items.first else { throw TypeError("empty set literals are not allowed in strict validation") }
            var element = try typeOfValue(first)
            for item in items.dropFirst() {
                guard let joined = CedarType.lub(element, try typeOfValue(item)) else {
                    throw TypeError("the elements of a set have incompatible types")
                }
                element = joined
            }
            return .set(element)
        case .record(let members):
            var attributes: [CedarString: CedarType.Qualified] = [:]
            for (key, value) in members { attributes[key] = CedarType.Qualified(type: try typeOfValue(value), required: true) }
            return .record(attributes)
        }
    }

    func typeOfBinary(_ op: BinaryOp, _ x1: Expr, _ x2: Expr, _ c: Capabilities, _ env: Environment)
        throws(TypeError) -> (CedarType, Capabilities)
    {
        let (t1, _) = try typeOf(x1, c, env)
        let (t2, _) = try typeOf(x2, c, env)
        func comparable(_ t: CedarType) -> Bool { t == .long || t == .ext("datetime") || t == .ext("duration") }
        let unknown = t1 == .unknown || t2 == .unknown
        switch op {
        case .equal, .notEqual:
            let b: CedarType.BoolType
            if case .literal(let v1) = x1, case .literal(let v2) = x2 {
                b = v1 == v2 ? .tt : .ff
            } else if unknown || CedarType.lub(t1, t2) != nil {
                b = .anyBool
            } else if case .entity = t1, case .entity = t2 {
                b = .ff
            } else {
                throw TypeError("`==` compares \(t1) with \(t2), which can never be equal")
            }
            let result: CedarType.BoolType = op == .equal ? b : (b == .tt ? .ff : b == .ff ? .tt : .anyBool)
            return (.bool(result), [])
        case .less, .lessEqual, .greater, .greaterEqual:
            guard (comparable(t1) || t1 == .unknown) && (comparable(t2) || t2 == .unknown) && (unknown || t1 == t2) else {
                throw TypeError("comparison of \(t1) with \(t2): both must be Long, datetime or duration")
            }
            return (.bool(.anyBool), [])
        case .add, .subtract, .multiply:
            guard t1 == .long || t1 == .unknown, t2 == .long || t2 == .unknown else { throw TypeError("arithmetic on \(t1) and \(t2): both must be Long") }
            return (.long, [])
        case .memberOf:
            if t1 == .unknown {
                switch t2 {
                case .entity, .set(.entity), .unknown, .set(.unknown): return (.bool(.anyBool), [])
                default: throw unexpected(t2, "an entity or a set of entities", in: "the right of `in`")
                }
            }
            guard case .entity(let e1) = t1 else { throw unexpected(t1, "an entity", in: "the left of `in`") }
            let action1: EntityUID? = {
                if case .literal(.entity(let u)) = x1, schema.actions[u] != nil { return u }
                return nil
            }()
            func actionDescends(_ a: EntityUID, _ b: EntityUID) -> Bool {
                a == b || (schema.actions[a]?.ancestors.contains(b) ?? false)
            }
            func typeDescends(_ a: EntityType, _ b: EntityType) -> Bool {
                a == b || (schema.entityTypes[a]?.allowedParents.contains(b) ?? false)
            }
            switch t2 {
            case .entity(let e2):
                if let action1, case .literal(.entity(let u2)) = x2 {
                    return (.bool(actionDescends(action1, u2) ? .tt : .ff), [])
                }
                return (.bool(typeDescends(e1, e2) ? .anyBool : .ff), [])
            case .set(.entity(let e2)):
                if let action1, case .set(let items) = x2 {
                    let uids = items.compactMap { item -> EntityUID? in
                        if case .literal(.entity(let u)) = item { return u }
                        return nil
                    }
                    if uids.count == items.count {
                        return (.bool(uids.contains { actionDescends(action1, $0) } ? .tt : .ff), [])
                    }
                }
                return (.bool(typeDescends(e1, e2) ? .anyBool : .ff), [])
            case .unknown, .set(.unknown):
                return (.bool(.anyBool), [])
            default:
                throw unexpected(t2, "an entity or a set of entities", in: "the right of `in`")
            }
        case .contains:
            if t1 == .unknown { return (.bool(.anyBool), []) }
            guard case .set(let element) = t1 else { throw unexpected(t1, "a set", in: "`contains`") }
            guard CedarType.lub(element, t2) != nil else {
                throw TypeError("`contains` looks for \(t2) in a set of \(element)")
            }
            return (.bool(.anyBool), [])
        case .containsAll, .containsAny:
            func elements(_ t: CedarType) -> CedarType? {
                if case .set(let e) = t { return e }
                return t == .unknown ? .unknown : nil
            }
            guard let a = elements(t1), let b = elements(t2) else {
                throw TypeError("`\(op == .containsAll ? "containsAll" : "containsAny")` takes two sets, not \(t1) and \(t2)")
            }
            guard CedarType.lub(a, b) != nil else { throw TypeError("sets of incompatible types \(a) and \(b)") }
            return (.bool(.anyBool), [])
        case .hasTag, .getTag:
            guard t2 == .string || t2 == .unknown else { throw unexpected(t2, "String", in: "a tag key") }
            let capability = Capability(expression: Self.key(x1), attribute: nil, tag: Self.key(x2))
            if t1 == .unknown {
                if op == .hasTag { return c.contains(capability) ? (.bool(.tt), []) : (.bool(.anyBool), [capability]) }
                guard c.contains(capability) else { throw TypeError("unable to guarantee safety of access to a tag (test it with `hasTag` first)") }
                return (.unknown, [])
            }
            guard case .entity(let type) = t1 else { throw unexpected(t1, "an entity", in: "a tag access") }
            let tags: CedarType?
            if let declared = schema.entityTypes[type] {
                tags = declared.tags.map(CedarType.init)
            } else if schema.isActionType(type) {
                tags = nil
            } else {
                throw TypeError("unknown entity type `\(type)`")
            }
            if op == .hasTag {
                guard tags != nil else { return (.bool(.ff), []) }
                return c.contains(capability) ? (.bool(.tt), []) : (.bool(.anyBool), [capability])
            }
            guard let tags else { throw TypeError("entity type `\(type)` has no tags") }
            guard c.contains(capability) else { throw TypeError("unable to guarantee safety of access to a tag of `\(type)` (test it with `hasTag` first)") }
            return (tags, [])
        }
    }

    func typeOfCall(_ f: ExtensionFunction, _ args: [Expr], _ c: Capabilities, _ env: Environment) throws(TypeError) -> CedarType {
        let (parameters, result) = SchemaType.signature(of: f)
        if f.isConstructor {
            // Strict validation takes only a literal string the constructor accepts.
            guard args.count == 1, case .literal(.string(let s)) = args[0],
                  (try? Evaluator.callExtension(f, [.string(s)])) != nil else {
                throw TypeError("`\(f.rawValue)` needs a valid literal string")
            }
            return CedarType(result)
        }
        guard args.count == parameters.count else {
            throw TypeError("`\(f.rawValue)` takes \(parameters.count) arguments, not \(args.count)")
        }
        for (arg, parameter) in zip(args, parameters) {
            let (t, _) = try typeOf(arg, c, env)
            guard t == CedarType(parameter) || t == .unknown else { throw unexpected(t, "\(CedarType(parameter))", in: "`\(f.rawValue)`") }
        }
        return CedarType(result)
    }

    func unexpected(_ t: CedarType, _ expected: String, in place: String) -> TypeError {
        TypeError("\(place) needs \(expected), not \(t)")
    }

    /// A canonical rendering of an expression: capabilities are keyed by it (two spellings of one path are the same
    /// path).
    static func key(_ e: Expr) -> String {
        switch e {
        case .literal(let v): return v.description
        case .variable(let v): return v.rawValue
        case .ifThenElse(let a, let b, let c): return "if(\(key(a)),\(key(b)),\(key(c)))"
        case .and(let a, let b): return "and(\(key(a)),\(key(b)))"
        case .or(let a, let b): return "or(\(key(a)),\(key(b)))"
        case .not(let a): return "not(\(key(a)))"
        case .negate(let a): return "neg(\(key(a)))"
        case .isEmpty(let a): return "isEmpty(\(key(a)))"
        case .like(let a, let p): return "like(\(key(a)),\(p.elements.map { if case .scalar(let s) = $0 { String(s) } else { "\u{0}" } }.joined()))"
        case .isType(let a, let t): return "is(\(key(a)),\(t))"
        case .binary(let op, let a, let b): return "\(op)(\(key(a)),\(key(b)))"
        case .getAttr(let a, let k): return "\(key(a)).\(Lexer.quote(k.string))"
        case .hasAttr(let a, let k): return "has(\(key(a)),\(Lexer.quote(k.string)))"
        case .set(let items): return "[" + items.map(key).joined(separator: ",") + "]"
        case .record(let members): return "{" + members.map { Lexer.quote($0.0.string) + ":" + key($0.1) }.joined(separator: ",") + "}"
        case .call(let f, let args): return "\(f.rawValue)(" + args.map(key).joined(separator: ",") + ")"
        }
    }
}

extension CedarType {
    /// The attributes of a record type (empty for any other type).
    var recordAttributes: [CedarString: Qualified] {
        switch self {
        case .record(let attributes), .openRecord(let attributes): return attributes
        default: return [:]
        }
    }

    /// The record type of declared attributes.
    static func record(_ attributes: [CedarString: SchemaType.Attribute]) -> CedarType {
        .record(attributes.mapValues { Qualified(type: CedarType($0.type), required: $0.required) })
    }
}

extension Schema {
    /// Checks that a request conforms to this schema (declared principal, action and resource types, the action
    /// applies to them, the context has the action's context type) and that each entity conforms to its declared
    /// type: what an application checks to know the schema describes the requests it builds.
    ///
    /// - Throws: ``CedarError`` naming the first problem.
    public func conform(_ request: Request, entities: [Entity]) throws(CedarError) {
        try validate(request)
        for entity in entities { try check(entity) }
    }
}
