/// Finds the policies whose scope can match a request without looking at the others.
///
/// A scope constraint never errors (it compares the request's entity uids with
/// literals), so a policy whose scope does not match is simply not satisfied and
/// cannot contribute a reason or an error. Skipping it is exact, not an
/// approximation. Each policy is filed under one key, the most selective its scope
/// offers: the principal's uid, else the resource's, else the action's, else an
/// entity type; policies with no usable constraint are always candidates.
struct PolicyIndex: Sendable {
    private var principalEqual: [EntityUID: [Int]] = [:]
    private var principalIn: [EntityUID: [Int]] = [:]
    private var resourceEqual: [EntityUID: [Int]] = [:]
    private var resourceIn: [EntityUID: [Int]] = [:]
    private var actionEqual: [EntityUID: [Int]] = [:]
    private var actionIn: [EntityUID: [Int]] = [:]
    private var principalType: [EntityType: [Int]] = [:]
    private var resourceType: [EntityType: [Int]] = [:]
    private var always: [Int] = []

    init(_ policies: [Policy]) {
        for (i, p) in policies.enumerated() {
            switch p.principal {
            case .equal(let u): principalEqual[u, default: []].append(i); continue
            case .memberOf(let u), .isTypeMemberOf(_, let u): principalIn[u, default: []].append(i); continue
            default: break
            }
            switch p.resource {
            case .equal(let u): resourceEqual[u, default: []].append(i); continue
            case .memberOf(let u), .isTypeMemberOf(_, let u): resourceIn[u, default: []].append(i); continue
            default: break
            }
            switch p.action {
            case .equal(let u): actionEqual[u, default: []].append(i); continue
            case .memberOf(let u): actionIn[u, default: []].append(i); continue
            case .memberOfAny(let us) where !us.isEmpty:
                for u in Set(us) { actionIn[u, default: []].append(i) }
                continue
            default: break
            }
            if case .isType(let t) = p.principal {
                principalType[t, default: []].append(i)
            } else if case .isType(let t) = p.resource {
                resourceType[t, default: []].append(i)
            } else {
                always.append(i)
            }
        }
    }

    /// The indices of every policy whose scope may match, in ascending order.
    func candidates(for request: Request, entities: Entities) -> [Int] {
        var out = always
        func add(_ bucket: [Int]?) {
            if let bucket { out.append(contentsOf: bucket) }
        }
        func addIn(_ table: [EntityUID: [Int]], _ uid: EntityUID) {
            guard !table.isEmpty else { return }
            add(table[uid])
            for a in entities.ancestors(of: uid) { add(table[a]) }
        }
        add(principalEqual[request.principal])
        addIn(principalIn, request.principal)
        add(resourceEqual[request.resource])
        addIn(resourceIn, request.resource)
        add(actionEqual[request.action])
        addIn(actionIn, request.action)
        add(principalType[request.principal.type])
        add(resourceType[request.resource.type])
        out.sort()
        // Only `action in [A, B]` can file a policy under two keys that both match.
        var unique = 0
        for i in out.indices where unique == 0 || out[unique - 1] != out[i] {
            out[unique] = out[i]
            unique += 1
        }
        out.removeLast(out.count - unique)
        return out
    }
}
