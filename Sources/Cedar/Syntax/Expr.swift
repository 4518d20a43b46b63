/// A Cedar expression, as in the Lean specification's `Expr`.
public indirect enum Expr: Sendable {
    case literal(Value)
    case variable(Variable)
    case ifThenElse(Expr, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case not(Expr)
    case negate(Expr)
    case isEmpty(Expr)
    case like(Expr, Pattern)
    case isType(Expr, EntityType)
    case binary(BinaryOp, Expr, Expr)
    case getAttr(Expr, CedarString)
    case hasAttr(Expr, CedarString)
    case set([Expr])
    case record([(CedarString, Expr)])
    case call(ExtensionFunction, [Expr])
}

/// The four request variables.
public enum Variable: String, Sendable {
    case principal, action, resource, context
}

/// Binary operators, including the set and tag methods.
public enum BinaryOp: Sendable {
    case equal, notEqual
    case less, lessEqual, greater, greaterEqual
    case add, subtract, multiply
    case memberOf
    case contains, containsAll, containsAny
    case hasTag, getTag
}

/// One element of a `like` pattern.
public enum PatternElement: Sendable, Equatable {
    case wildcard
    case scalar(Unicode.Scalar)
}

/// A `like` pattern: literal scalars and `*` wildcards.
public struct Pattern: Sendable, Equatable {
    /// The pattern's elements in order.
    public let elements: [PatternElement]

    /// Creates a pattern.
    public init(_ elements: [PatternElement]) {
        self.elements = elements
    }

    /// Whether `text` matches the whole pattern (`*` matches any run of scalars).
    public func matches(_ text: CedarString) -> Bool {
        let chars = Array(text.string.unicodeScalars)
        let pattern = elements
        // Greedy matching with backtracking to the last star: linear in practice.
        var t = 0
        var p = 0
        var starP = -1
        var starT = 0
        while t < chars.count {
            if p < pattern.count, case .scalar(let c) = pattern[p], c == chars[t] {
                t += 1
                p += 1
            } else if p < pattern.count, case .wildcard = pattern[p] {
                starP = p
                starT = t
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starT += 1
                t = starT
            } else {
                return false
            }
        }
        while p < pattern.count, case .wildcard = pattern[p] { p += 1 }
        return p == pattern.count
    }
}

/// Extension functions and methods that can appear in a call.
public enum ExtensionFunction: String, Sendable, CaseIterable {
    case decimal, lessThan, lessThanOrEqual, greaterThan, greaterThanOrEqual
    case ip, isIpv4, isIpv6, isLoopback, isMulticast, isInRange
    case datetime, duration, offset, durationSince, toDate, toTime
    case toMilliseconds, toSeconds, toMinutes, toHours, toDays

    /// Whether the function is written in function style (`decimal("1.0")`)
    /// rather than method style (`x.lessThan(y)`).
    public var isConstructor: Bool {
        switch self {
        case .decimal, .ip, .datetime, .duration: true
        default: false
        }
    }
}
