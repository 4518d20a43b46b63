/// A set of static policies, indexed by their scope constraints.
public struct PolicySet: Sendable {
    /// The policies in source order.
    public let policies: [Policy]
    let compiled: [Expr]
    let index: PolicyIndex

    /// Creates a policy set. Policy ids must be unique.
    ///
    /// - Throws: ``CedarError`` on a duplicate id.
    public init(_ policies: [Policy]) throws(CedarError) {
        var seen = Set<String>()
        for p in policies where !seen.insert(p.id).inserted {
            throw CedarError(.syntax, "duplicate policy id `\(p.id)`")
        }
        self.policies = policies
        self.compiled = policies.map { ConstantFolder.fold($0.conditionExpression) }
        self.index = PolicyIndex(policies)
    }

    /// Parses Cedar policy text. Ids are positional (`policy0`, `policy1`, …).
    ///
    /// - Throws: ``CedarError`` with line and column on a syntax error.
    public init(parsing text: String) throws(CedarError) {
        try self.init(Parser.parsePolicies(text))
    }

    /// Parses Cedar policy text and names each policy by its `@id` annotation where present.
    public static func parse(_ text: String, idsFromAnnotations: Bool) throws(CedarError) -> PolicySet {
        var policies = try Parser.parsePolicies(text)
        if idsFromAnnotations {
            policies = policies.map { p in p.annotation("id").map { p.withID($0) } ?? p }
        }
        return try PolicySet(policies)
    }

    /// The number of policies.
    public var count: Int { policies.count }
}

extension Policy {
    /// The conditions only; the index and `ScopeMatcher` decide the scope.
    var conditionExpression: Expr {
        conditions.reversed().reduce(nil as Expr?) { acc, c in
            let e = c.isWhen ? c.body : Expr.not(c.body)
            return acc.map { .and(e, $0) } ?? e
        } ?? .literal(.bool(true))
    }
}
