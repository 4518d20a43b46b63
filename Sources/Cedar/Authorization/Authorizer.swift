/// The outcome of an authorization request.
public enum Decision: String, Sendable {
    case allow, deny
}

/// A policy that could not be evaluated for a request.
public struct PolicyEvaluationError: Sendable {
    /// The policy's id.
    public let policyID: String
    /// What went wrong.
    public let error: EvaluationError
}

/// The decision with the policies that determined it and those that errored.
public struct Response: Sendable {
    public let decision: Decision
    /// Satisfied forbids for a deny, satisfied permits for an allow, in policy order.
    public let reasons: [String]
    /// Policies whose evaluation errored, in policy order. They were skipped.
    public let errors: [PolicyEvaluationError]
}

/// Decides requests: forbid overrides permit, default deny, erroring policies are skipped.
public struct Authorizer: Sendable {
    /// Whether to use the scope index; turning it off evaluates every policy (for differential testing).
    public var usesIndex: Bool

    /// Creates an authorizer.
    public init(usesIndex: Bool = true) {
        self.usesIndex = usesIndex
    }

    /// Authorizes one request (Lean `isAuthorized`).
    public func isAuthorized(_ request: Request, entities: Entities, policies: PolicySet) -> Response {
        let evaluator = Evaluator(request: request, entities: entities)
        var permits: [String] = []
        var forbids: [String] = []
        var errors: [PolicyEvaluationError] = []
        func consider(_ i: Int) {
            let policy = policies.policies[i]
            guard ScopeMatcher.matches(policy, request, entities) else { return }
            do {
                if try evaluator.evaluateBool(policies.compiled[i]) {
                    if policy.effect == .permit { permits.append(policy.id) } else { forbids.append(policy.id) }
                }
            } catch {
                errors.append(PolicyEvaluationError(policyID: policy.id, error: error))
            }
        }
        if usesIndex {
            for i in policies.index.candidates(for: request, entities: entities) { consider(i) }
        } else {
            for i in policies.policies.indices { consider(i) }
        }
        if forbids.isEmpty && !permits.isEmpty {
            return Response(decision: .allow, reasons: permits, errors: errors)
        }
        return Response(decision: .deny, reasons: forbids, errors: errors)
    }
}

/// Checks a policy's scope directly, without building expressions.
enum ScopeMatcher {
    @inline(__always)
    static func matches(_ p: Policy, _ r: Request, _ es: Entities) -> Bool {
        scope(p.principal, r.principal, es) && action(p.action, r.action, es) && scope(p.resource, r.resource, es)
    }

    @inline(__always)
    static func scope(_ c: ScopeConstraint, _ uid: EntityUID, _ es: Entities) -> Bool {
        switch c {
        case .any: true
        case .equal(let u): uid == u
        case .memberOf(let u): es.isDescendant(uid, of: u)
        case .isType(let t): uid.type == t
        case .isTypeMemberOf(let t, let u): uid.type == t && es.isDescendant(uid, of: u)
        }
    }

    @inline(__always)
    static func action(_ c: ActionConstraint, _ uid: EntityUID, _ es: Entities) -> Bool {
        switch c {
        case .any: true
        case .equal(let u): uid == u
        case .memberOf(let u): es.isDescendant(uid, of: u)
        case .memberOfAny(let us): us.contains { es.isDescendant(uid, of: $0) }
        }
    }
}
