/// Evaluates the parts of a policy that cannot depend on the request, once, at load.
///
/// Only three shapes are folded, all of which depend on nothing but literals and
/// never touch the entity store: extension constructors applied to a string
/// literal (`ip("10.0.0.0/8")`, `datetime("2026-01-01")`), and set and record
/// literals whose members are all literals. A constructor whose argument is
/// invalid is left as it is, so it still errors at evaluation time, as Cedar requires.
enum ConstantFolder {
    static func fold(_ e: Expr) -> Expr {
        switch e {
        case .literal, .variable:
            return e
        case .ifThenElse(let a, let b, let c):
            return .ifThenElse(fold(a), fold(b), fold(c))
        case .and(let a, let b):
            return .and(fold(a), fold(b))
        case .or(let a, let b):
            return .or(fold(a), fold(b))
        case .not(let a):
            return .not(fold(a))
        case .negate(let a):
            return .negate(fold(a))
        case .isEmpty(let a):
            return .isEmpty(fold(a))
        case .like(let a, let p):
            return .like(fold(a), p)
        case .isType(let a, let t):
            return .isType(fold(a), t)
        case .binary(let op, let a, let b):
            return .binary(op, fold(a), fold(b))
        case .getAttr(let a, let k):
            return .getAttr(fold(a), k)
        case .hasAttr(let a, let k):
            return .hasAttr(fold(a), k)
        case .set(let items):
            let folded = items.map(fold)
            var values = Set<Value>()
            for item in folded {
                guard case .literal(let v) = item else { return .set(folded) }
                values.insert(v)
            }
            return .literal(.set(values))
        case .record(let fields):
            let folded = fields.map { ($0.0, fold($0.1)) }
            var values: [CedarString: Value] = [:]
            for (k, item) in folded {
                guard case .literal(let v) = item else { return .record(folded) }
                values[k] = v
            }
            return .literal(.record(values))
        case .call(let f, let args):
            let folded = args.map(fold)
            if f.isConstructor, folded.count == 1, case .literal(.string) = folded[0],
               case .literal(let arg) = folded[0], let v = try? Evaluator.callExtension(f, [arg]) {
                return .literal(v)
            }
            return .call(f, folded)
        }
    }
}
