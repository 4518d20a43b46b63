/// Finds the policies whose scope can match a request without looking at the others.
///
/// A scope constraint never errors (it compares the request's entity uids with
/// literals), so a policy whose scope does not match is simply not satisfied and
/// cannot contribute a reason or an error: skipping it is exact, not an
/// approximation. Policies are filed by principal, then resource, then action
/// key; a request looks up its own uid, its ancestors and the wildcard at each
/// level, so only the branches that exist are visited. `is` constraints file
/// under the wildcard and are checked by ``ScopeMatcher`` with the rest.
struct PolicyIndex: Sendable {
    /// One scope constraint, reduced to what the index can look up.
    enum Key: Hashable, Sendable {
        case any
        case equal(EntityUID)
        case within(EntityUID)
    }

    private typealias ActionLevel = [Key: [Int]]
    private typealias ResourceLevel = [Key: ActionLevel]
    private var tree: [Key: ResourceLevel] = [:]

    init(_ policies: [Policy]) {
        for (i, p) in policies.enumerated() {
            let pk = Self.key(p.principal)
            let rk = Self.key(p.resource)
            let aks: Set<Key>
            switch p.action {
            case .any: aks = [.any]
            case .equal(let u): aks = [.equal(u)]
            case .memberOf(let u): aks = [.within(u)]
            case .memberOfAny(let us): aks = us.isEmpty ? [.any] : Set(us.map { .within($0) })
            }
            for ak in aks {
                tree[pk, default: [:]][rk, default: [:]][ak, default: []].append(i)
            }
        }
    }

    private static func key(_ c: ScopeConstraint) -> Key {
        switch c {
        case .any, .isType: .any
        case .equal(let u): .equal(u)
        case .memberOf(let u), .isTypeMemberOf(_, let u): .within(u)
        }
    }

    /// The keys a request's uid can match: itself (by `==` or `in`), its ancestors, the wildcard.
    private static func keys(_ uid: EntityUID, _ entities: Entities) -> [Key] {
        var out: [Key] = [.any, .equal(uid), .within(uid)]
        for a in entities.ancestors(of: uid) { out.append(.within(a)) }
        return out
    }

    /// The indices of every policy whose scope may match, in ascending order.
    func candidates(for request: Request, entities: Entities) -> [Int] {
        var out: [Int] = []
        var resourceKeys: [Key]?
        var actionKeys: [Key]?
        for pk in Self.keys(request.principal, entities) {
            guard let resources = tree[pk] else { continue }
            if resourceKeys == nil { resourceKeys = Self.keys(request.resource, entities) }
            for rk in resourceKeys! {
                guard let actions = resources[rk] else { continue }
                if actionKeys == nil { actionKeys = Self.keys(request.action, entities) }
                for ak in actionKeys! {
                    if let bucket = actions[ak] { out.append(contentsOf: bucket) }
                }
            }
        }
        out.sort()
        // `action in [A, B]` files a policy under several keys that may all match.
        var unique = 0
        for i in out.indices where unique == 0 || out[unique - 1] != out[i] {
            out[unique] = out[i]
            unique += 1
        }
        out.removeLast(out.count - unique)
        return out
    }
}
