/// Evaluates expressions against a request and an entity store, following the
/// Lean specification's `evaluate` (`cedar-lean/Cedar/Spec/Evaluator.lean`).
public struct Evaluator: Sendable {
    public let request: Request
    public let entities: Entities
    private let contextValue: Value

    /// Creates an evaluator for one request.
    public init(request: Request, entities: Entities) {
        self.request = request
        self.entities = entities
        self.contextValue = .record(request.context)
    }

    /// Evaluates an expression.
    public func evaluate(_ expr: Expr) throws(EvaluationError) -> Value {
        switch expr {
        case .literal(let v):
            return v
        case .variable(let v):
            switch v {
            case .principal: return .entity(request.principal)
            case .action: return .entity(request.action)
            case .resource: return .entity(request.resource)
            case .context: return contextValue
            }
        case .ifThenElse(let c, let t, let e):
            return try evaluateBool(c) ? try evaluate(t) : try evaluate(e)
        case .and(let a, let b):
            guard try evaluateBool(a) else { return .bool(false) }
            return .bool(try evaluateBool(b))
        case .or(let a, let b):
            if try evaluateBool(a) { return .bool(true) }
            return .bool(try evaluateBool(b))
        case .not(let a):
            return .bool(!(try evaluateBool(a)))
        case .negate(let a):
            let i = try long(evaluate(a))
            guard i != .min else { throw overflow("-(\(i))") }
            return .long(-i)
        case .isEmpty(let a):
            let v = try evaluate(a)
            guard case .set(let s) = v else { throw EvaluationError.type("set", v) }
            return .bool(s.isEmpty)
        case .like(let a, let pattern):
            let v = try evaluate(a)
            guard case .string(let s) = v else { throw EvaluationError.type("string", v) }
            return .bool(pattern.matches(s))
        case .isType(let a, let type):
            let v = try evaluate(a)
            guard case .entity(let uid) = v else { throw EvaluationError.type("entity", v) }
            return .bool(uid.type == type)
        case .binary(let op, let a, let b):
            return try binary(op, evaluate(a), evaluate(b))
        case .getAttr(let a, let attr):
            return try getAttr(evaluate(a), attr)
        case .hasAttr(let a, let attr):
            let v = try evaluate(a)
            switch v {
            case .record(let r): return .bool(r[attr] != nil)
            case .entity(let uid): return .bool(entities[uid]?.attributes[attr] != nil)
            default: throw EvaluationError.type("entity or record", v)
            }
        case .set(let items):
            var s = Set<Value>(minimumCapacity: items.count)
            for item in items { s.insert(try evaluate(item)) }
            return .set(s)
        case .record(let fields):
            var r = [CedarString: Value](minimumCapacity: fields.count)
            for (k, x) in fields { r[k] = try evaluate(x) }
            return .record(r)
        case .call(let f, let args):
            var values: [Value] = []
            values.reserveCapacity(args.count)
            for a in args { values.append(try evaluate(a)) }
            return try Evaluator.callExtension(f, values)
        }
    }

    /// Evaluates an expression that must produce a boolean.
    @inline(__always)
    public func evaluateBool(_ expr: Expr) throws(EvaluationError) -> Bool {
        let v = try evaluate(expr)
        guard case .bool(let b) = v else { throw EvaluationError.type("bool", v) }
        return b
    }

    private func long(_ v: Value) throws(EvaluationError) -> Int64 {
        guard case .long(let i) = v else { throw EvaluationError.type("long", v) }
        return i
    }

    private func overflow(_ what: String) -> EvaluationError {
        EvaluationError(.arithBoundsError, "integer overflow while evaluating \(what)")
    }

    private func getAttr(_ v: Value, _ attr: CedarString) throws(EvaluationError) -> Value {
        switch v {
        case .record(let r):
            guard let x = r[attr] else {
                throw EvaluationError(.attrDoesNotExist, "record does not have the attribute `\(attr)`")
            }
            return x
        case .entity(let uid):
            guard let e = entities[uid] else {
                throw EvaluationError(.entityDoesNotExist, "entity \(uid) does not exist")
            }
            guard let x = e.attributes[attr] else {
                throw EvaluationError(.attrDoesNotExist, "\(uid) does not have the attribute `\(attr)`")
            }
            return x
        default:
            throw EvaluationError.type("entity or record", v)
        }
    }

    private func binary(_ op: BinaryOp, _ a: Value, _ b: Value) throws(EvaluationError) -> Value {
        switch op {
        case .equal: return .bool(a == b)
        case .notEqual: return .bool(a != b)
        case .less: return .bool(try compare(a, b) < 0)
        case .lessEqual: return .bool(try compare(a, b) <= 0)
        case .greater: return .bool(try compare(a, b) > 0)
        case .greaterEqual: return .bool(try compare(a, b) >= 0)
        case .add:
            let (r, o) = try long(a).addingReportingOverflow(try long(b))
            if o { throw overflow("\(a) + \(b)") }
            return .long(r)
        case .subtract:
            let (r, o) = try long(a).subtractingReportingOverflow(try long(b))
            if o { throw overflow("\(a) - \(b)") }
            return .long(r)
        case .multiply:
            let (r, o) = try long(a).multipliedReportingOverflow(by: try long(b))
            if o { throw overflow("\(a) * \(b)") }
            return .long(r)
        case .memberOf:
            guard case .entity(let uid) = a else { throw EvaluationError.type("entity", a) }
            switch b {
            case .entity(let target):
                return .bool(entities.isDescendant(uid, of: target))
            case .set(let targets):
                var found = false
                for t in targets {
                    guard case .entity(let target) = t else { throw EvaluationError.type("set of entities", b) }
                    if !found, entities.isDescendant(uid, of: target) { found = true }
                }
                return .bool(found)
            default:
                throw EvaluationError.type("entity or set of entities", b)
            }
        case .contains:
            guard case .set(let s) = a else { throw EvaluationError.type("set", a) }
            return .bool(s.contains(b))
        case .containsAll:
            guard case .set(let s) = a else { throw EvaluationError.type("set", a) }
            guard case .set(let t) = b else { throw EvaluationError.type("set", b) }
            return .bool(t.isSubset(of: s))
        case .containsAny:
            guard case .set(let s) = a else { throw EvaluationError.type("set", a) }
            guard case .set(let t) = b else { throw EvaluationError.type("set", b) }
            return .bool(!s.isDisjoint(with: t))
        case .hasTag, .getTag:
            guard case .entity(let uid) = a else { throw EvaluationError.type("entity", a) }
            guard case .string(let tag) = b else { throw EvaluationError.type("string", b) }
            if op == .hasTag {
                return .bool(entities[uid]?.tags[tag] != nil)
            }
            guard let e = entities[uid] else {
                throw EvaluationError(.entityDoesNotExist, "entity \(uid) does not exist")
            }
            guard let x = e.tags[tag] else {
                throw EvaluationError(.tagDoesNotExist, "\(uid) does not have the tag `\(tag)`")
            }
            return x
        }
    }

    /// Orders two longs, datetimes or durations (the types Cedar's `<` accepts).
    private func compare(_ a: Value, _ b: Value) throws(EvaluationError) -> Int {
        switch (a, b) {
        case (.long(let x), .long(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.ext(.datetime(let x)), .ext(.datetime(let y))): return x < y ? -1 : (x == y ? 0 : 1)
        case (.ext(.duration(let x)), .ext(.duration(let y))): return x < y ? -1 : (x == y ? 0 : 1)
        case (.long, _), (.ext(.datetime), _), (.ext(.duration), _):
            throw EvaluationError.type(a.typeName, b)
        default:
            throw EvaluationError.type("long, datetime or duration", a)
        }
    }

    /// Applies an extension function to evaluated arguments (Lean `ExtFun.call`).
    public static func callExtension(_ f: ExtensionFunction, _ args: [Value]) throws(EvaluationError) -> Value {
        func bad() -> EvaluationError {
            EvaluationError(.typeError, "wrong arguments for `\(f.rawValue)`: (\(args.map(\.typeName).joined(separator: ", ")))")
        }
        func extErr(_ what: String) -> EvaluationError {
            EvaluationError(.extensionError, "`\(f.rawValue)`: \(what)")
        }
        switch (f, args.count) {
        case (.decimal, 1), (.ip, 1), (.datetime, 1), (.duration, 1):
            guard case .string(let s) = args[0] else { throw bad() }
            let text = s.string
            switch f {
            case .decimal:
                guard let d = CedarDecimal.parse(text) else { throw extErr("invalid decimal `\(text)`") }
                return .ext(.decimal(d))
            case .ip:
                guard let a = IPAddress.parse(text) else { throw extErr("invalid IP address `\(text)`") }
                return .ext(.ipaddr(a))
            case .datetime:
                guard let d = CedarDatetime.parse(text) else { throw extErr("invalid datetime `\(text)`") }
                return .ext(.datetime(d))
            default:
                guard let d = CedarDuration.parse(text) else { throw extErr("invalid duration `\(text)`") }
                return .ext(.duration(d))
            }
        case (.lessThan, 2), (.lessThanOrEqual, 2), (.greaterThan, 2), (.greaterThanOrEqual, 2):
            guard case .ext(.decimal(let x)) = args[0], case .ext(.decimal(let y)) = args[1] else { throw bad() }
            switch f {
            case .lessThan: return .bool(x < y)
            case .lessThanOrEqual: return .bool(x <= y)
            case .greaterThan: return .bool(x > y)
            default: return .bool(x >= y)
            }
        case (.isIpv4, 1), (.isIpv6, 1), (.isLoopback, 1), (.isMulticast, 1):
            guard case .ext(.ipaddr(let a)) = args[0] else { throw bad() }
            switch f {
            case .isIpv4: return .bool(a.isIPv4)
            case .isIpv6: return .bool(a.isIPv6)
            case .isLoopback: return .bool(a.isLoopback)
            default: return .bool(a.isMulticast)
            }
        case (.isInRange, 2):
            guard case .ext(.ipaddr(let a)) = args[0], case .ext(.ipaddr(let r)) = args[1] else { throw bad() }
            return .bool(a.isInRange(r))
        case (.offset, 2):
            guard case .ext(.datetime(let d)) = args[0], case .ext(.duration(let x)) = args[1] else { throw bad() }
            guard let r = d.offset(by: x) else { throw extErr("overflow") }
            return .ext(.datetime(r))
        case (.durationSince, 2):
            guard case .ext(.datetime(let d)) = args[0], case .ext(.datetime(let e)) = args[1] else { throw bad() }
            guard let r = d.durationSince(e) else { throw extErr("overflow") }
            return .ext(.duration(r))
        case (.toDate, 1):
            guard case .ext(.datetime(let d)) = args[0] else { throw bad() }
            guard let r = d.toDate() else { throw extErr("overflow") }
            return .ext(.datetime(r))
        case (.toTime, 1):
            guard case .ext(.datetime(let d)) = args[0] else { throw bad() }
            return .ext(.duration(d.toTime()))
        case (.toMilliseconds, 1), (.toSeconds, 1), (.toMinutes, 1), (.toHours, 1), (.toDays, 1):
            guard case .ext(.duration(let d)) = args[0] else { throw bad() }
            switch f {
            case .toMilliseconds: return .long(d.toMilliseconds)
            case .toSeconds: return .long(d.toSeconds)
            case .toMinutes: return .long(d.toMinutes)
            case .toHours: return .long(d.toHours)
            default: return .long(d.toDays)
            }
        default:
            throw bad()
        }
    }
}
