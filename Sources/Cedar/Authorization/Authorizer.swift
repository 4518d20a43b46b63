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
    /// When to consult the scope index.
    public enum IndexMode: String, Sendable, CaseIterable {
        /// Use the index for policy sets larger than ``Authorizer/indexThreshold``;
        /// below that, checking every scope directly is cheaper than the lookups.
        case automatic
        /// Always use the index.
        case always
        /// Never use it: check every policy (the specification's definition).
        case never
    }

    /// Policy sets up to this size are scanned in ``IndexMode/automatic`` mode.
    public static let indexThreshold = 32

    /// When the scope index is used.
    public var indexMode: IndexMode

    /// Creates an authorizer.
    public init(indexMode: IndexMode = .automatic) {
        self.indexMode = indexMode
    }

    /// Creates an authorizer that always (`true`) or never (`false`) uses the index.
    public init(usesIndex: Bool) {
        self.indexMode = usesIndex ? .always : .never
    }

    /// Authorizes one request (Lean `isAuthorized`).
    public func isAuthorized(_ request: Request, entities: Entities, policies: PolicySet) -> Response {
        let evaluator = Evaluator(request: request, entities: entities)
        var permits: [String] = []
        var forbids: [String] = []
        var errors: [PolicyEvaluationError] = []
        func consider(_ i: Int) {
            guard ScopeMatcher.matches(policies.policies[i], request, entities) else { return }
            do {
                if try evaluator.evaluateBool(policies.compiled[i]) {
                    if policies.policies[i].effect == .permit {
                        permits.append(policies.policies[i].id)
                    } else {
                        forbids.append(policies.policies[i].id)
                    }
                }
            } catch {
                errors.append(PolicyEvaluationError(policyID: policies.policies[i].id, error: error))
            }
        }
        let usesIndex = switch indexMode {
        case .always: true
        case .never: false
        case .automatic: policies.count > Authorizer.indexThreshold
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
