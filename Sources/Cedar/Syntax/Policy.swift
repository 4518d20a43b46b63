/// Whether a policy permits or forbids.
public enum Effect: String, Sendable {
    case permit, forbid
}

/// A scope constraint on the principal or the resource.
public enum ScopeConstraint: Sendable, Equatable {
    case any
    case equal(EntityUID)
    case memberOf(EntityUID)
    case isType(EntityType)
    case isTypeMemberOf(EntityType, EntityUID)
}

/// A scope constraint on the action.
public enum ActionConstraint: Sendable, Equatable {
    case any
    case equal(EntityUID)
    case memberOf(EntityUID)
    case memberOfAny([EntityUID])
}

/// A `when` or `unless` clause.
public struct Condition: Sendable {
    /// `true` for `when`, `false` for `unless`.
    public let isWhen: Bool
    /// The clause's body.
    public let body: Expr
}

/// A static Cedar policy.
public struct Policy: Sendable {
    /// The policy id: positional (`policy0`, …) unless the caller chose one.
    public let id: String
    /// Annotations in source order (`@id("x")` gives `("id", "x")`).
    public let annotations: [(key: String, value: String)]
    public let effect: Effect
    public let principal: ScopeConstraint
    public let action: ActionConstraint
    public let resource: ScopeConstraint
    public let conditions: [Condition]
    /// Line and column of the policy's first token, for messages.
    public let line: Int
    public let column: Int

    /// The value of an annotation, if present.
    public func annotation(_ key: String) -> String? {
        annotations.first { $0.key == key }?.value
    }

    /// The whole policy as one expression, as the Lean `Policy.toExpr`.
    public var expression: Expr {
        let conds = conditions.reversed().reduce(nil as Expr?) { acc, c in
            let e = c.isWhen ? c.body : Expr.not(c.body)
            return acc.map { .and(e, $0) } ?? e
        } ?? .literal(.bool(true))
        return .and(principal.expression(.principal),
                    .and(action.expression, .and(resource.expression(.resource), conds)))
    }

    public func withID(_ newID: String) -> Policy {
        Policy(id: newID, annotations: annotations, effect: effect, principal: principal, action: action,
               resource: resource, conditions: conditions, line: line, column: column)
    }
}

extension ScopeConstraint {
    func expression(_ v: Variable) -> Expr {
        switch self {
        case .any: .literal(.bool(true))
        case .equal(let uid): .binary(.equal, .variable(v), .literal(.entity(uid)))
        case .memberOf(let uid): .binary(.memberOf, .variable(v), .literal(.entity(uid)))
        case .isType(let t): .isType(.variable(v), t)
        case .isTypeMemberOf(let t, let uid):
            .and(.isType(.variable(v), t), .binary(.memberOf, .variable(v), .literal(.entity(uid))))
        }
    }
}

extension ActionConstraint {
    var expression: Expr {
        switch self {
        case .any: .literal(.bool(true))
        case .equal(let uid): .binary(.equal, .variable(.action), .literal(.entity(uid)))
        case .memberOf(let uid): .binary(.memberOf, .variable(.action), .literal(.entity(uid)))
        case .memberOfAny(let uids):
            .binary(.memberOf, .variable(.action), .set(uids.map { .literal(.entity($0)) }))
        }
    }
}
