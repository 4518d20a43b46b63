public import PortcullisCore

/// The pure rules of delegation by token exchange (RFC 8693) with rich authorization (RFC 9396).
///
/// Every step along a delegation chain may only keep or narrow what the
/// previous token carried: scopes, authorization details. The chain of actors
/// is recorded as nested `act` claims, the most recent actor outermost.
public enum Delegation {
    /// The scopes of the new token: `requested` when each of them is in `available`, or `available` when nil.
    ///
    /// Duplicates are dropped, order kept; an empty request yields no scope.
    ///
    /// - Throws: ``OAuthError/invalidScope(_:)`` for a scope not in `available`
    ///   (a widening attempt) or one that is not a valid scope token (RFC 6749 §3.3).
    public static func narrowScopes(requested: [String]?, available: [String]) throws(OAuthError) -> [String] {
        guard let requested else { return available }
        var narrowed: [String] = []
        for scope in requested {
            let isScopeToken =
                !scope.isEmpty
                && scope.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
            guard isScopeToken else { throw .invalidScope("a requested scope is not a valid scope token") }
            guard available.contains(where: { sameBytes($0, scope) }) else {
                throw .invalidScope("scope \(scope) exceeds what the subject token grants")
            }
            if !narrowed.contains(where: { sameBytes($0, scope) }) { narrowed.append(scope) }
        }
        return narrowed
    }

    /// The `act` claim for a token issued to `newActor` on top of a token whose `act` was `previous`.
    ///
    /// `{"sub": newActor}` for the first delegation, `{"sub": newActor, "act": previous}` after that (RFC 8693 §4.1).
    public static func actChain(newActor: String, previous: JSONAny?) -> JSONAny {
        var act: [String: JSONAny] = ["sub": .string(newActor)]
        if let previous { act["act"] = previous }
        return .object(act)
    }

    /// How many actors a chain of nested `act` objects holds: 0 for nil, 1 for `{"sub": …}`, and so on.
    public static func depth(of act: JSONAny?) -> Int {
        var depth = 0
        var current = act
        while case .object(let members)? = current {
            depth += 1
            current = members["act"]
        }
        return depth
    }
}
